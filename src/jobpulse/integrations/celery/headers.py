"""What the handlers read from a task's message: untrusted headers, checked before use.

Header values are untrusted (anyone who can publish to the broker writes them): the publish time must be a
finite number not far in the future, an ETA a date; anything else is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jobpulse.runtime.queues import UNKNOWN

PUBLISHED_AT = "jobpulse_published_at"
TRACEPARENT = "traceparent"
REQUEST_ID = "x_request_id"
#: a publish time this far in the future (clock skew between hosts) is still accepted, then clamped
MAX_SKEW = 300.0


def float_header(value: object, now: float) -> float | None:
    """A publish time from a header: a finite float not after ``now + MAX_SKEW``, clamped to ``now``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and len(value) > 32:
        return None
    try:
        stamp = float(value)
    except ValueError:
        return None
    if not math.isfinite(stamp) or stamp <= 0 or stamp > now + MAX_SKEW:
        return None
    return min(stamp, now)


def eta_seconds(eta: object) -> float | None:
    if isinstance(eta, datetime):
        return eta.timestamp()
    if isinstance(eta, str) and len(eta) <= 64:
        try:
            parsed = datetime.fromisoformat(eta)
        except ValueError:
            return None
        return parsed.timestamp()
    return None


def header(request: Any, name: str) -> Any:
    """A header of a task request (Celery copies message headers onto the request context)."""
    value = getattr(request, name, None)
    if value is None:
        headers = getattr(request, "headers", None)
        if isinstance(headers, Mapping):
            value = headers.get(name)
    return value


def queue_of(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    if isinstance(info, Mapping):
        queue = info.get("routing_key") or info.get("queue")
        if isinstance(queue, str) and queue:
            return queue
    return UNKNOWN


def str_or_none(value: object) -> str | bytes | None:
    return value if isinstance(value, (str, bytes)) else None
