"""One small HTTP client for the Prometheus family of APIs, on the standard library only.

:class:`HttpClient` talks to any of the servers jobpulse drives (Prometheus, Alertmanager, the Pushgateway,
and whatever speaks their API, such as VictoriaMetrics): plain ``urllib``, no proxy from the environment (a
proxy must never see loopback traffic), no redirects followed, a status code is returned rather than raised.
:class:`PrometheusAPI` adds the ``/api/v1`` envelope (``{"status": "success", "data": ...}``) and the queries
lint (``--online``), the test-server harness and the backtests ask.

This module imports nothing of jobpulse's, so every layer may use it, and it needs no optional package.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal

__all__ = ["HttpClient", "HttpResponse", "PrometheusAPI", "PrometheusAPIError", "TransportError"]

Params = Mapping[str, str] | Sequence[tuple[str, str]]


class TransportError(OSError):
    """No HTTP answer at all: refused, reset, timed out, or not an HTTP server."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass
class HttpResponse:
    """A status code, headers and body; :meth:`raise_for_status` when a 4xx/5xx must be an error."""

    status_code: int
    content: bytes
    url: str
    headers: Message = field(default_factory=Message)

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.get_content_charset() or "utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def raise_for_status(self) -> HttpResponse:
        if self.status_code >= 400:
            raise urllib.error.HTTPError(self.url, self.status_code, self.text[:200], self.headers, None)
        return self


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as the response, as with httpx's default


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


class HttpClient:
    """``HttpClient("http://127.0.0.1:9090").get("/-/ready").status_code``; ``http(s)`` URLs only."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        try:
            port_ok = parsed.port is None or parsed.port > 0  # raises for "host:abc" ("u:p@ss/w@h" reads so too)
        except ValueError:
            port_ok = False
        if parsed.scheme not in ("http", "https") or not parsed.netloc or not port_ok:
            raise ValueError(f"expected an http(s) URL such as http://localhost:9090, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """One request to ``base_url + path``; raises :class:`TransportError` only when nothing answered."""
        url = self.base_url + path if path.startswith("/") else path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        data = content
        all_headers = {**self.headers, **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)  # noqa: S310 - http(s)
        try:
            with _OPENER.open(request, timeout=self.timeout if timeout is None else timeout) as response:
                return HttpResponse(response.status, response.read(), url, response.headers)
        except urllib.error.HTTPError as exc:  # a 4xx/5xx (or an unfollowed 3xx): an answer, not a failure
            with exc:
                body = exc.read() if exc.fp is not None else b""
            return HttpResponse(exc.code, body, url, exc.headers)
        except http.client.InvalidURL:
            # a netloc http.client cannot read ("u:p@ss/w@host" splits at the "/"); its message quotes a piece
            # of the URL, maybe of a password
            raise TransportError(url, "the URL's host and port cannot be read") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise TransportError(url, getattr(exc, "reason", exc)) from None

    def get(self, path: str, params: Params | None = None, **options: Any) -> HttpResponse:
        return self.request("GET", path, params=params, **options)

    def post(self, path: str, json: Any = None, **options: Any) -> HttpResponse:
        return self.request("POST", path, json_body=json, **options)

    def put(self, path: str, json: Any = None, **options: Any) -> HttpResponse:
        return self.request("PUT", path, json_body=json, **options)

    def delete(self, path: str, **options: Any) -> HttpResponse:
        return self.request("DELETE", path, **options)


Failure = Literal["url", "unreachable", "status", "not-json", "refused"]


class PrometheusAPIError(RuntimeError):
    """Prometheus cannot be asked (a bad URL, unreachable, not Prometheus) or it refused the request.

    ``failure`` says which; ``status`` is the HTTP status when there was one.
    """

    def __init__(self, message: str, failure: Failure, *, status: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.status = status


class PrometheusAPI:
    """The ``/api/v1`` of a Prometheus (or anything compatible) at ``url``: queries, series, alerts, rules."""

    def __init__(self, url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            self.http = HttpClient(url, timeout=timeout, headers=headers)
        except ValueError as exc:
            raise PrometheusAPIError(str(exc), "url") from None
        self.url = self.http.base_url

    @property
    def timeout(self) -> float:
        return self.http.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self.http.timeout = seconds

    def data(self, endpoint: str, params: Params | None = None) -> Any:
        """``data`` of ``GET /api/v1/<endpoint>``; :class:`PrometheusAPIError` unless it answered success."""
        try:
            response = self.http.get(f"/api/v1/{endpoint}", params)
        except TransportError as exc:
            raise PrometheusAPIError(f"cannot reach Prometheus at {self.url}: {exc.reason}", "unreachable") from None
        if response.status_code >= 400:
            error = _error_of(response)
            detail = f": {error}" if error else ""
            raise PrometheusAPIError(
                f"Prometheus at {self.url} answered {response.status_code}{detail}",
                "status",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            raise PrometheusAPIError(
                f"{self.url} did not answer with Prometheus API JSON", "not-json", status=response.status_code
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise PrometheusAPIError(
                f"Prometheus at {self.url} refused the request: {error or 'unexpected answer'}",
                "refused",
                status=response.status_code,
            )
        return body.get("data")

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query; ``data.result`` (for a scalar or string result, the ``[time, value]`` pair)."""
        params = {"query": promql}
        if time is not None:
            params["time"] = str(time)
        result: list[dict[str, Any]] = self.data("query", params)["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step: float | str = "1s") -> list[dict[str, Any]]:
        """Range query (``start``/``end`` as Unix times); ``data.result``."""
        params = {"query": promql, "start": str(start), "end": str(end), "step": str(step)}
        result: list[dict[str, Any]] = self.data("query_range", params)["result"]
        return result

    def series(self, *selectors: str) -> list[dict[str, str]]:
        """Label sets of the series matching any of ``selectors`` (``/api/v1/series``, all stored time)."""
        found: list[dict[str, str]] = self.data("series", [("match[]", s) for s in selectors]) or []
        return found

    def has_series(self, selector: str) -> bool:
        """Whether any series matching ``selector`` exists (all stored time)."""
        return bool(self.series(selector))

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts, from ``/api/v1/alerts``."""
        alerts: list[dict[str, Any]] = self.data("alerts")["alerts"]
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups with their rules' health and last evaluation, from ``/api/v1/rules``."""
        groups: list[dict[str, Any]] = self.data("rules")["groups"]
        return groups

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (``health``, ``lastError``, ...), from ``/api/v1/targets``."""
        targets: list[dict[str, Any]] = self.data("targets")["activeTargets"]
        return targets


def _error_of(response: HttpResponse) -> str | None:
    """Prometheus's ``error`` text in a failed answer's JSON body, if there is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error else None
