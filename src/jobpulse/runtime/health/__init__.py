"""Liveness, readiness and dependency health as a pure-ASGI app, mountable under any prefix.

Endpoints, relative to where the app is mounted (``Mount("/api/v1/health", health)`` or the exact
routes from :meth:`HealthApp.routes`):

- ``/health`` — liveness: answers 200 without calling any dependency.
- ``/health/ready`` — readiness: 503 while a *critical* dependency is down.
- ``/health/detailed`` — every dependency's status, latency and a sanitised message (no passwords,
  no connection strings); 503 while a critical dependency is down.
- ``/health/workers`` and ``/health/workers/<id>`` — worker heartbeats (see :mod:`jobpulse.runtime.heartbeat`).

Checks run concurrently, each under its own timeout, and their results are cached for ``interval``
seconds: any number of concurrent probes cause at most one run of each check per interval, so
Kubernetes probes (or an attacker) cannot overload a dependency. Every run updates
``jobpulse_dependency_up{dependency}`` and ``jobpulse_dependency_check_duration_seconds{dependency}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobpulse.redaction import MAX_MESSAGE, sanitize_message, url_secrets
from jobpulse.runtime.health.app import HealthApp
from jobpulse.runtime.health.checker import (
    CHECK_BUCKETS,
    DURATION_METRIC,
    UP_METRIC,
    CheckResult,
    HealthChecker,
    Status,
    overall,
)
from jobpulse.runtime.health.checks import DEPENDENCY_NAME, CallableCheck, Check, CheckFunc

if TYPE_CHECKING:
    from jobpulse.integrations.http import HttpCheck
    from jobpulse.integrations.postgres import PostgresCheck

__all__ = [
    "CallableCheck",
    "Check",
    "CheckResult",
    "HealthApp",
    "HealthChecker",
    "HttpCheck",
    "PostgresCheck",
    "sanitize_message",
]
__all__ += ["CHECK_BUCKETS", "DEPENDENCY_NAME", "DURATION_METRIC", "UP_METRIC", "CheckFunc", "Status", "overall"]
__all__ += ["MAX_MESSAGE", "url_secrets"]


def __getattr__(name: str) -> Any:
    # The HTTP and PostgreSQL checks moved to jobpulse.integrations (next to the Redis check); their old
    # names here still work. They are imported on first use only: the runtime never loads integrations.
    if name == "HttpCheck":
        from jobpulse.integrations.http import HttpCheck

        return HttpCheck
    if name == "PostgresCheck":
        from jobpulse.integrations.postgres import PostgresCheck

        return PostgresCheck
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
