"""Pure-ASGI HTTP metrics: requests, duration, time to first byte, response size, requests in progress.

Labels are bounded by construction: the method is one of a fixed set (else ``OTHER``), the status code is a
three-digit string, and the route is the *template* the router matched (``/jobs/{job_id}``), read once from
``scope["route"]`` after the app ran — never the raw path. Requests no route matched share one label
value; past ``max_routes`` distinct templates, new ones become ``__other__``.

Naming presets keep existing dashboards working: ``starlette_exporter`` (``starlette_requests_total`` …),
``http`` (prometheus-fastapi-instrumentator's ``http_requests_total`` …), or metrics named in the spec's
catalogue (``MetricsMiddleware.from_telemetry``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from jobpulse.runtime.exposition import Message, Receive, Scope, Send
from jobpulse.runtime.labels import OTHER, LabelBudget

if TYPE_CHECKING:
    from jobpulse.runtime.metrics import Instrument, Telemetry

__all__ = [
    "DEFAULT_SKIP_PATHS",
    "PRESETS",
    "HttpMetric",
    "MetricsMiddleware",
    "Preset",
]

Measure = Literal["requests", "duration", "first_byte", "response_size", "in_progress"]
Kind = Literal["counter", "histogram", "gauge", "summary"]
#: What a label carries: the method, the route template, the status code, its class (``2xx``), the app name.
Role = Literal["method", "route", "status", "status_class", "app_name"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "OTHER"
UNMATCHED = "__unmatched__"
OVERFLOW = OTHER
CLIENT_CLOSED = 499
#: Liveness/readiness probes and the scrape itself are not traffic. ``/*`` makes an entry a prefix.
DEFAULT_SKIP_PATHS = ("/metrics", "/health", "/health/*", "/healthz", "/livez", "/readyz", "/ready")
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_STATUS = {code: str(code) for code in range(100, 600)}
_STATUS_CLASS = {code: f"{code // 100}xx" for code in range(100, 600)}
LOG = logging.getLogger("jobpulse.http")
ACCESS_LOG = logging.getLogger("jobpulse.access")
_perf = time.perf_counter
_go_float: Callable[[float], str] = floatToGoString


@dataclass(frozen=True)
class HttpMetric:
    """One exposed metric: what it measures, its type, and which label carries which value."""

    name: str  # the exposed name (counters end in _total)
    kind: Kind
    measure: Measure
    labels: tuple[tuple[str, Role], ...]
    help: str
    buckets: tuple[float, ...] = DEFAULT_BUCKETS


@dataclass(frozen=True)
class Preset:
    name: str
    metrics: tuple[HttpMetric, ...]
    unmatched: str = UNMATCHED


def _starlette_exporter() -> Preset:
    full: tuple[tuple[str, Role], ...] = (
        ("method", "method"),
        ("path", "route"),
        ("status_code", "status"),
        ("app_name", "app_name"),
    )
    return Preset(
        "starlette_exporter",
        (
            HttpMetric("starlette_requests_total", "counter", "requests", full, "Total HTTP requests"),
            HttpMetric(
                "starlette_request_duration_seconds",
                "histogram",
                "duration",
                full,
                "HTTP request duration, in seconds (to the last byte of the response)",
            ),
            HttpMetric(
                "starlette_requests_in_progress",
                "gauge",
                "in_progress",
                (("method", "method"), ("app_name", "app_name")),
                "Total HTTP requests currently in progress",
            ),
            HttpMetric(
                "starlette_response_body_bytes_total",
                "counter",
                "response_size",
                full,
                "Total HTTP response body bytes",
            ),
            HttpMetric(
                "starlette_request_time_to_first_byte_seconds",
                "histogram",
                "first_byte",
                full,
                "Time from the request to the first byte of the response body, in seconds",
            ),
        ),
    )


def _http() -> Preset:
    return Preset(
        "http",
        (
            HttpMetric(
                "http_requests_total",
                "counter",
                "requests",
                (("method", "method"), ("status", "status_class"), ("handler", "route")),
                "Total number of requests by method, status and handler.",
            ),
            HttpMetric(
                "http_request_duration_seconds",
                "histogram",
                "duration",
                (("method", "method"), ("handler", "route")),
                "Latency with only few buckets by handler.",
                (0.1, 0.5, 1.0),
            ),
            HttpMetric(
                "http_request_duration_highr_seconds",
                "histogram",
                "duration",
                (),
                "Latency with many buckets but no API specific labels.",
                (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60),
            ),
            HttpMetric(
                "http_response_size_bytes",
                "summary",
                "response_size",
                (("handler", "route"),),
                "Content length of outgoing responses by handler.",
            ),
            HttpMetric("http_requests_inprogress", "gauge", "in_progress", (), "Number of HTTP requests in progress."),
            HttpMetric(
                "http_request_time_to_first_byte_seconds",
                "histogram",
                "first_byte",
                (("method", "method"), ("handler", "route")),
                "Time from the request to the first byte of the response body, in seconds.",
                (0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            ),
        ),
        unmatched="none",
    )


PRESETS: dict[str, Preset] = {"starlette_exporter": _starlette_exporter(), "http": _http()}


# -- aggregation --------------------------------------------------------------------------------------------
class _Cell:
    """The accumulators one (method, route, status) combination updates, resolved once."""

    __slots__ = ("counts", "durations", "first_bytes", "size_counters", "size_summaries")

    def __init__(self) -> None:
        self.counts: list[list[float]] = []
        self.durations: list[tuple[list[float], tuple[float, ...]]] = []
        self.first_bytes: list[tuple[list[float], tuple[float, ...]]] = []
        self.size_counters: list[list[float]] = []
        self.size_summaries: list[list[float]] = []


class _Sink:
    """Where a finished request is recorded; two kinds: plain aggregation and spec instruments."""

    def begin(self, method: str) -> None:
        raise NotImplementedError

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        raise NotImplementedError


class _Aggregator(_Sink, Collector):
    """Counts under one lock in plain lists, exposed as a prometheus_client collector.

    prometheus_client takes a lock per value and several Python calls per update; a request updates
    four to six values, so one lock around list arithmetic is several times cheaper.
    """

    def __init__(self, preset: Preset, app_name: str) -> None:
        self.preset = preset
        self.app_name = app_name
        self._lock = threading.Lock()
        self._series: list[dict[tuple[str, ...], list[float]]] = [{} for _ in preset.metrics]
        self._cells: dict[tuple[str, str, int], _Cell] = {}
        self._gauges = [i for i, m in enumerate(preset.metrics) if m.measure == "in_progress"]
        self._in_progress: dict[str, list[list[float]]] = {}

    # -- hot path --
    def begin(self, method: str) -> None:
        accs = self._in_progress.get(method)
        if accs is None:
            accs = self._gauge_accs(method)
        with self._lock:
            for acc in accs:
                acc[0] += 1

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        cell = self._cells.get((method, route, status))
        if cell is None:
            cell = self._cell(method, route, status)
        with self._lock:
            for acc in self._in_progress[method]:
                acc[0] -= 1
            for acc in cell.counts:
                acc[0] += 1
            for acc, bounds in cell.durations:
                acc[bisect_left(bounds, duration)] += 1
                acc[-1] += duration
            if first_byte is not None:
                for acc, bounds in cell.first_bytes:
                    acc[bisect_left(bounds, first_byte)] += 1
                    acc[-1] += first_byte
            for acc in cell.size_counters:
                acc[0] += size
            for acc in cell.size_summaries:
                acc[0] += 1
                acc[1] += size

    # -- resolution (once per combination) --
    def _values(self, metric: HttpMetric, method: str, route: str, status: int) -> tuple[str, ...]:
        out = []
        for _, role in metric.labels:
            if role == "method":
                out.append(method)
            elif role == "route":
                out.append(route)
            elif role == "status":
                out.append(_STATUS.get(status, "0"))
            elif role == "status_class":
                out.append(_STATUS_CLASS.get(status, "0xx"))
            else:
                out.append(self.app_name)
        return tuple(out)

    def _acc(self, index: int, values: tuple[str, ...], size: int) -> list[float]:
        series = self._series[index]
        acc = series.get(values)
        if acc is None:
            acc = series[values] = [0.0] * size
        return acc

    def _gauge_accs(self, method: str) -> list[list[float]]:
        with self._lock:
            accs = [self._acc(i, self._values(self.preset.metrics[i], method, "", 0), 1) for i in self._gauges]
            self._in_progress[method] = accs
        return accs

    def _cell(self, method: str, route: str, status: int) -> _Cell:
        cell = _Cell()
        with self._lock:
            for i, metric in enumerate(self.preset.metrics):
                values = self._values(metric, method, route, status)
                if metric.measure == "requests":
                    cell.counts.append(self._acc(i, values, 1))
                elif metric.measure in ("duration", "first_byte"):
                    acc = self._acc(i, values, len(metric.buckets) + 2)  # buckets, +Inf, sum
                    (cell.durations if metric.measure == "duration" else cell.first_bytes).append((acc, metric.buckets))
                elif metric.measure == "response_size":
                    if metric.kind == "summary":
                        cell.size_summaries.append(self._acc(i, values, 2))
                    else:
                        cell.size_counters.append(self._acc(i, values, 1))
            self._cells[(method, route, status)] = cell
        return cell

    # -- exposition --
    def describe(self) -> Iterable[Metric]:
        return [self._family(metric) for metric in self.preset.metrics]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            snapshot = [[(values, list(acc)) for values, acc in series.items()] for series in self._series]
        for metric, series in zip(self.preset.metrics, snapshot, strict=True):
            family = self._family(metric)
            for values, acc in series:
                if metric.kind == "counter":
                    family.add_metric(values, acc[0])  # type: ignore[attr-defined]
                elif metric.kind == "gauge":
                    family.add_metric(values, acc[0])  # type: ignore[attr-defined]
                elif metric.kind == "summary":
                    family.add_metric(values, count_value=acc[0], sum_value=acc[1])  # type: ignore[attr-defined]
                else:
                    cumulative = 0.0
                    buckets = []
                    for bound, n in zip((*metric.buckets, float("inf")), acc[:-1], strict=True):
                        cumulative += n
                        buckets.append((_go_float(bound), cumulative))
                    family.add_metric(values, buckets, acc[-1])  # type: ignore[attr-defined]
            yield family

    @staticmethod
    def _family(metric: HttpMetric) -> Metric:
        names = [name for name, _ in metric.labels]
        if metric.kind == "counter":
            return CounterMetricFamily(metric.name, metric.help, labels=names)
        if metric.kind == "gauge":
            return GaugeMetricFamily(metric.name, metric.help, labels=names)
        if metric.kind == "summary":
            return SummaryMetricFamily(metric.name, metric.help, labels=names)
        return HistogramMetricFamily(metric.name, metric.help, labels=names)


_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, dict[tuple[str, str], _Aggregator]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def _aggregator(preset: Preset, app_name: str, registry: CollectorRegistry | None) -> _Aggregator:
    """One aggregator per (registry, preset, app name): a framework may build its middleware stack twice."""
    if registry is None:
        return _Aggregator(preset, app_name)
    with _SHARED_LOCK:
        per_registry = _SHARED.setdefault(registry, {})
        key = (preset.name, app_name)
        aggregator = per_registry.get(key)
        if aggregator is None or aggregator.preset != preset:
            aggregator = _Aggregator(preset, app_name)
            registry.register(aggregator)
            per_registry[key] = aggregator
        return aggregator


# -- spec catalogue sink -------------------------------------------------------------------------------------
_ROLE_BY_LABEL: dict[str, Role] = {
    "method": "method",
    "route": "route",
    "path": "route",
    "handler": "route",
    "endpoint": "route",
    "status_code": "status",
    "status": "status",
    "code": "status",
    "status_class": "status_class",
    "app_name": "app_name",
    "app": "app_name",
}
_SPEC_TYPES: dict[Measure, tuple[str, ...]] = {
    "requests": ("counter",),
    "duration": ("histogram",),
    "first_byte": ("histogram",),
    "response_size": ("histogram", "counter"),
    "in_progress": ("gauge",),
}


class _SpecSink(_Sink):
    """Records into metrics of the spec's catalogue, through their bounded, cached instruments."""

    def __init__(
        self, telemetry: Telemetry, names: Mapping[Measure, str], app_name: str, constants: Mapping[str, str] = {}
    ) -> None:
        self.app_name = app_name
        # a constant label's "role" is its name behind "=": its value never changes
        self._constants = {f"={label}": value for label, value in constants.items()}
        self._parts: list[tuple[Measure, Instrument, tuple[str, ...]]] = []
        for measure, name in names.items():
            if measure not in _SPEC_TYPES:
                raise ValueError(f"unknown HTTP measure {measure!r}; use one of {', '.join(_SPEC_TYPES)}")
            instrument = telemetry.metric(name)
            if instrument.metric.type not in _SPEC_TYPES[measure]:
                raise ValueError(
                    f"{name} is a {instrument.metric.type}; {measure} needs a {' or '.join(_SPEC_TYPES[measure])}"
                )
            roles: list[str] = []
            for label in instrument.names:
                if label in constants:
                    roles.append(f"={label}")
                    continue
                role = _ROLE_BY_LABEL.get(label)
                if role is None or (measure == "in_progress" and role not in ("method", "app_name")):
                    raise ValueError(f"{name}: the HTTP middleware cannot fill label {label!r}")
                roles.append(role)
            self._parts.append((measure, instrument, tuple(roles)))
        self._cells: dict[tuple[str, str, int], list[tuple[Measure, Any]]] = {}
        self._gauges: dict[str, list[Any]] = {}

    def _values(self, roles: tuple[str, ...], method: str, route: str, status: int) -> tuple[str, ...]:
        pick = {
            "method": method,
            "route": route,
            "status": _STATUS.get(status, "0"),
            "status_class": _STATUS_CLASS.get(status, "0xx"),
            "app_name": self.app_name,
            **self._constants,
        }
        return tuple(pick[role] for role in roles)

    def begin(self, method: str) -> None:
        gauges = self._gauges.get(method)
        if gauges is None:
            gauges = self._gauges[method] = [
                instrument.child(self._values(roles, method, "", 0))
                for measure, instrument, roles in self._parts
                if measure == "in_progress"
            ]
        for gauge in gauges:
            gauge.inc()

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        for gauge in self._gauges[method]:
            gauge.dec()
        key = (method, route, status)
        cell = self._cells.get(key)
        if cell is None:
            cell = []
            clean = True
            for measure, instrument, roles in self._parts:
                if measure != "in_progress":
                    child, ok = instrument.resolve(self._values(roles, method, route, status))
                    cell.append((measure, child))
                    clean = clean and ok
            if clean:
                self._cells[key] = cell
        for measure, child in cell:
            if measure == "requests":
                child.inc()
            elif measure == "duration":
                child.observe(duration)
            elif measure == "first_byte":
                if first_byte is not None:
                    child.observe(first_byte)
            elif measure == "response_size":
                if hasattr(child, "observe"):
                    child.observe(size)
                else:
                    child.inc(size)


# -- the middleware ----------------------------------------------------------------------------------------
class MetricsMiddleware:
    """Count and time every HTTP request (see the module docstring for labels and presets).

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
        sink: _Sink | None = None,
    ) -> None:
        self.app = app
        if isinstance(preset, str):
            try:
                preset = PRESETS[preset]
            except KeyError:
                raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}") from None
        self.preset = preset
        self.unmatched = preset.unmatched
        self.sink = sink if sink is not None else _aggregator(preset, app_name, registry)
        self._skip_exact = frozenset(p for p in skip_paths if not p.endswith("/*"))
        self._skip_prefixes = tuple(p[:-1] for p in skip_paths if p.endswith("/*"))
        self.max_routes = max_routes
        self._templates: dict[object, str] = {}
        self._route_budget = LabelBudget(max_routes)
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
        sink = _SpecSink(telemetry, names, app_name, constant_labels or {})
        return cls(app, preset=Preset("spec", (), unmatched), sink=sink, app_name=app_name, **options)

    def route_template(self, scope: Scope) -> str:
        """The matched route's template, with the templates of enclosing mounts; bounded by ``max_routes``."""
        route = scope.get("route")
        if route is None:
            return self.unmatched
        if "app_root_path" in scope:  # inside a Mount: the mounts' matched prefix
            prefix = scope.get("root_path", "")[len(scope["app_root_path"]) :]
            key: object = (id(route), prefix)
        else:
            prefix = ""
            key = id(route)  # routes define __eq__ without __hash__; they live as long as the app
        template = self._templates.get(key)
        if template is not None:
            return template
        fmt = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not isinstance(fmt, str):
            return self.unmatched
        # a Mount (no router inside, or nothing matched there) has no endpoint; its own match is
        # already part of root_path, so its label is "<prefix>/{path}"
        is_mount = not hasattr(route, "endpoint")
        template = (prefix + "/{path}" if prefix else fmt) if is_mount else prefix + fmt
        if not self._route_budget.admit(key):
            return OVERFLOW
        self._templates[key] = template
        return template

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
                    route = self.route_template(scope)
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
