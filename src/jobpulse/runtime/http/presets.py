"""What the middleware exposes: the metrics of each naming preset and the label that carries each value.

``starlette_exporter`` (``starlette_requests_total`` …) and ``http`` (prometheus-fastapi-instrumentator's
``http_requests_total`` …) keep existing dashboards working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Measure = Literal["requests", "duration", "first_byte", "response_size", "in_progress"]
Kind = Literal["counter", "histogram", "gauge", "summary"]
#: What a label carries: the method, the route template, the status code, its class (``2xx``), the app name.
Role = Literal["method", "route", "status", "status_class", "app_name"]

UNMATCHED = "__unmatched__"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


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
