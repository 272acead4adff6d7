"""The pure-ASGI middleware that counts and times every HTTP request (see :mod:`jobpulse.runtime.http`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry

from jobpulse.asgi import Message, Receive, Scope, Send
from jobpulse.runtime.http.aggregator import shared_aggregator
from jobpulse.runtime.http.presets import PRESETS, UNMATCHED, Measure, Preset
from jobpulse.runtime.http.routes import RouteTemplates
from jobpulse.runtime.http.sink import Sink
from jobpulse.runtime.http.spec_sink import SpecSink
from jobpulse.runtime.labels import OTHER

if TYPE_CHECKING:
    from jobpulse.runtime.metrics import Telemetry

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "OTHER"
OVERFLOW = OTHER
CLIENT_CLOSED = 499
#: Liveness/readiness probes and the scrape itself are not traffic. ``/*`` makes an entry a prefix.
DEFAULT_SKIP_PATHS = ("/metrics", "/health", "/health/*", "/healthz", "/livez", "/readyz", "/ready")
LOG = logging.getLogger("jobpulse.http")
ACCESS_LOG = logging.getLogger("jobpulse.access")
_perf = time.perf_counter


class MetricsMiddleware:
    """Count and time every HTTP request (see :mod:`jobpulse.runtime.http` for labels and presets).

    ``skip_paths`` are exact paths, or prefixes when they end in ``/*``. With ``access_log`` (True, or a
    logger) one line per request is logged at INFO with ``method``, ``route``, ``status_code`` and
    ``duration_ms`` as record attributes — :mod:`jobpulse.logging` prints them as JSON fields.
    """

    def __init__(
        self,
        app: Any,
        *,
        preset: str | Preset = "starlette_exporter",
        registry: CollectorRegistry | None = REGISTRY,
        app_name: str = "starlette",
        skip_paths: Sequence[str] = DEFAULT_SKIP_PATHS,
        max_routes: int = 500,
        access_log: bool | logging.Logger = False,
        sink: Sink | None = None,
    ) -> None:
        self.app = app
        if isinstance(preset, str):
            try:
                preset = PRESETS[preset]
            except KeyError:
                raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}") from None
        self.preset = preset
        self.unmatched = preset.unmatched
        self.sink = sink if sink is not None else shared_aggregator(preset, app_name, registry)
        self._skip_exact = frozenset(p for p in skip_paths if not p.endswith("/*"))
        self._skip_prefixes = tuple(p[:-1] for p in skip_paths if p.endswith("/*"))
        self.max_routes = max_routes
        self._routes = RouteTemplates(app, unmatched=self.unmatched, max_routes=max_routes)
        self._access: logging.Logger | None = (
            access_log if isinstance(access_log, logging.Logger) else ACCESS_LOG if access_log else None
        )
        self._failures = 0

    @classmethod
    def from_telemetry(
        cls,
        app: Any,
        telemetry: Telemetry,
        *,
        requests: str | None = None,
        duration: str | None = None,
        first_byte: str | None = None,
        response_size: str | None = None,
        in_progress: str | None = None,
        app_name: str = "starlette",
        unmatched: str = UNMATCHED,
        constant_labels: Mapping[str, str] | None = None,
        **options: Any,
    ) -> MetricsMiddleware:
        """Record into metrics of the spec's catalogue, named per measure (each one optional).

        Each metric's labels must be ones the middleware can fill: ``method``; ``route``/``path``/
        ``handler``/``endpoint`` (the route template); ``status_code``/``status``/``code``;
        ``status_class`` (``2xx``); ``app_name``; or a label named in ``constant_labels`` (``{"env": "prod"}``),
        which always carries that value. The spec's label bounds apply on top.
        """
        given: tuple[tuple[Measure, str | None], ...] = (
            ("requests", requests),
            ("duration", duration),
            ("first_byte", first_byte),
            ("response_size", response_size),
            ("in_progress", in_progress),
        )
        names = {measure: name for measure, name in given if name is not None}
        if not names:
            raise ValueError("name at least one catalogue metric (requests=, duration=, ...)")
        sink = SpecSink(telemetry, names, app_name, constant_labels or {})
        return cls(app, preset=Preset("spec", (), unmatched), sink=sink, app_name=app_name, **options)

    def route_template(self, scope: Scope) -> str:
        """The matched route's template, with the templates of enclosing mounts (never the request's path: see
        :mod:`jobpulse.runtime.http.routes`); bounded by ``max_routes``."""
        return self._routes.template(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self._skip_exact or (self._skip_prefixes and path.startswith(self._skip_prefixes)):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method not in METHODS:
            method = OTHER_METHOD
        sink = self.sink
        start = _perf()
        try:
            sink.begin(method)
        except Exception:  # instrumentation never takes the app down
            self._failed()
            await self.app(scope, receive, send)
            return
        status = 0
        first = 0.0
        end = 0.0
        size = 0
        disconnected = False

        async def send_measured(message: Message) -> None:
            nonlocal status, first, end, size, disconnected
            kind = message["type"]
            try:
                if kind == "http.response.body":
                    body = message.get("body")
                    if body:
                        size += len(body)
                        if not first:
                            first = _perf()
                    if not message.get("more_body"):
                        await send(message)
                        end = _perf()
                        return
                elif kind == "http.response.start":
                    status = message["status"]
                await send(message)
            except OSError:  # the server's send fails once the client is gone (frameworks rename it)
                disconnected = True
                raise

        async def receive_watched() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        error: BaseException | None = None
        try:
            await self.app(scope, receive_watched, send_measured)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                if end:
                    code = status
                elif disconnected or isinstance(error, OSError | asyncio.CancelledError):
                    code = CLIENT_CLOSED
                    end = _perf()
                else:
                    code = 500 if error is not None or not status else status
                    end = _perf()
                try:
                    route = self._routes.template(scope)
                except Exception:
                    route = self.unmatched
                    self._failed()
                sink.record(method, route, code, end - start, first - start if first else None, size)
                if self._access is not None:
                    self._log(method, route, code, end - start, size)
            except Exception:
                self._failed()

    def _log(self, method: str, route: str, status: int, seconds: float, size: int) -> None:
        duration_ms = round(seconds * 1000, 3)
        assert self._access is not None
        self._access.info(
            "%s %s %d %.1fms",
            method,
            route,
            status,
            duration_ms,
            extra={
                "method": method,
                "route": route,
                "status_code": status,
                "duration_ms": duration_ms,
                "response_bytes": size,
            },
        )

    def _failed(self) -> None:
        self._failures += 1
        if self._failures == 1 or self._failures % 10_000 == 0:
            LOG.exception("jobpulse HTTP metrics failed (%d times so far); the request was served", self._failures)
