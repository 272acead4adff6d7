"""structlog processors: the request's trace context on every event, secrets redacted.

::

    import structlog
    from jobpulse.integrations.structlog import add_trace_context, redact_secrets

    structlog.configure(processors=[
        add_trace_context, redact_secrets,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks,   # structlog's tracebacks: set show_locals=False
        structlog.processors.JSONRenderer(ensure_ascii=True),
    ])

The processors only read and write the event dict, so they work without structlog installed;
:func:`processors` returns the recommended chain and needs ``pip install jobpulse[structlog]``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from jobpulse.extras import require
from jobpulse.logging import CONTEXT_FIELDS
from jobpulse.redaction import REDACTED, redact_value, secret_key
from jobpulse.runtime.context import current_context

__all__ = ["add_trace_context", "processors", "redact_secrets"]

EventDict = MutableMapping[str, Any]


def add_trace_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id``, ``request_id`` and the user/job/batch ids of the current request (if not set)."""
    ctx = current_context()
    if ctx is not None:
        for name in CONTEXT_FIELDS:
            value = getattr(ctx, name)
            if value is not None:
                event_dict.setdefault(name, value)
    return event_dict


def redact_secrets(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Blank values under secret-looking keys and secret-shaped strings (bearer tokens, API keys, …)."""
    for key, value in list(event_dict.items()):
        event_dict[key] = REDACTED if secret_key(key) else redact_value(value)
    return event_dict


def processors() -> list[Any]:
    """The recommended chain: context, redaction, ISO timestamp, tracebacks without locals, JSON."""
    structlog = require("structlog", extra="structlog", feature="jobpulse's structlog processors")
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
        redact_secrets,
        structlog.processors.JSONRenderer(ensure_ascii=True),
    ]
