"""A small client for the Prometheus HTTP API, for checks that ask a live server which series exist."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class OnlineError(RuntimeError):
    """Prometheus cannot be asked (unreachable, not Prometheus, or it refused the query)."""


class PrometheusAPI:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise OnlineError(f"expected an http(s) URL such as http://localhost:9090, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._cache: dict[str, bool] = {}

    def _get(self, endpoint: str, params: list[tuple[str, str]]) -> Any:
        query = urllib.parse.urlencode(params)
        url = f"{self.url}{endpoint}?{query}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) checked
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise OnlineError(f"Prometheus at {self.url} answered {exc.code}{detail}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OnlineError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError:
            raise OnlineError(f"{self.url} did not answer with Prometheus API JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise OnlineError(f"Prometheus at {self.url} refused the request: {error or 'unexpected answer'}")
        return body.get("data")

    def has_series(self, selector: str) -> bool:
        """Whether any series matching ``selector`` exists (``/api/v1/series``, all stored time)."""
        if selector not in self._cache:
            data = self._get("/api/v1/series", [("match[]", selector)])
            self._cache[selector] = bool(data)
        return self._cache[selector]


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f": {error}" if error else ""
