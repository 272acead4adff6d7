"""The HTTP metrics middleware; it lives in :mod:`jobpulse.runtime.http` now (this path keeps working)."""

from __future__ import annotations

from jobpulse.runtime.http import (
    ACCESS_LOG,
    CLIENT_CLOSED,
    DEFAULT_BUCKETS,
    DEFAULT_SKIP_PATHS,
    METHODS,
    OTHER_METHOD,
    OVERFLOW,
    PRESETS,
    UNMATCHED,
    HttpMetric,
    Kind,
    Measure,
    MetricsMiddleware,
    Preset,
    Role,
)

__all__ = [
    "DEFAULT_SKIP_PATHS",
    "PRESETS",
    "HttpMetric",
    "MetricsMiddleware",
    "Preset",
]
__all__ += ["ACCESS_LOG", "CLIENT_CLOSED", "DEFAULT_BUCKETS", "METHODS", "OTHER_METHOD", "OVERFLOW", "UNMATCHED"]
__all__ += ["Kind", "Measure", "Role"]
