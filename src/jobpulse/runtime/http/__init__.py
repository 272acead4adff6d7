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

from jobpulse.runtime.http.middleware import (
    ACCESS_LOG,
    CLIENT_CLOSED,
    DEFAULT_SKIP_PATHS,
    METHODS,
    OTHER_METHOD,
    OVERFLOW,
    MetricsMiddleware,
)
from jobpulse.runtime.http.presets import DEFAULT_BUCKETS, PRESETS, UNMATCHED, HttpMetric, Kind, Measure, Preset, Role

__all__ = [
    "ACCESS_LOG",
    "CLIENT_CLOSED",
    "DEFAULT_BUCKETS",
    "DEFAULT_SKIP_PATHS",
    "METHODS",
    "OTHER_METHOD",
    "OVERFLOW",
    "PRESETS",
    "UNMATCHED",
    "HttpMetric",
    "Kind",
    "Measure",
    "MetricsMiddleware",
    "Preset",
    "Role",
]
