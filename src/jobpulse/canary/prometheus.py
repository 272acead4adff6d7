"""A minimal client for the Prometheus HTTP API (stdlib only): the range and instant queries a judgement needs."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

Series = dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]


class PrometheusError(RuntimeError):
    """Prometheus cannot be asked: unreachable, not Prometheus, or it refused the query."""


class PrometheusClient:
    def __init__(self, url: str, *, timeout: float = 30.0, token: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PrometheusError(f"expected an http(s) URL such as http://localhost:9090, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token

    def _get(self, endpoint: str, params: dict[str, str]) -> Any:
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the scheme is checked above
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"Prometheus at {self.url} answered {exc.code}{_detail(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise PrometheusError(f"{self.url} did not answer with Prometheus API JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(f"Prometheus at {self.url} refused the query: {error or 'unexpected answer'}")
        return body.get("data")

    def query_range(self, query: str, start: float, end: float, step: float) -> Series:
        """``/api/v1/query_range``: label set → [(time, value)], NaN values left out."""
        data = self._get("query_range", {"query": query, "start": _num(start), "end": _num(end), "step": _num(step)})
        out: Series = {}
        for series in (data or {}).get("result", []):
            key = tuple(sorted(series.get("metric", {}).items()))
            points = [(float(t), float(v)) for t, v in series.get("values", [])]
            out[key] = [(t, v) for t, v in points if not math.isnan(v)]
        return out

    def query(self, query: str, time: float) -> Series:
        """``/api/v1/query`` (an instant vector): label set → [(time, value)]."""
        data = self._get("query", {"query": query, "time": _num(time)})
        out: Series = {}
        for series in (data or {}).get("result", []):
            if not isinstance(series, dict):
                continue
            t, v = series.get("value", (time, "NaN"))
            out[tuple(sorted(series.get("metric", {}).items()))] = [(float(t), float(v))]
        return out


def _num(value: float) -> str:
    return f"{value:.3f}"


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f": {error}" if error else ""
