"""JSON-lines logging with trace context, secret redaction and escaped control characters.

``jobpulse.logging.configure()`` puts one handler on the root logger (or the logger you pass) that prints
each record as one JSON object::

    {"timestamp": "2026-01-28T15:30:00.123Z", "level": "INFO", "logger": "app.api.main",
     "message": "Request processed", "trace_id": "…", "request_id": "…", "user_id": "user_789",
     "job_id": "job_999", "batch_id": "batch_111", "duration_ms": 450, "status_code": 200}

The ids come from :mod:`jobpulse.runtime.context` (the request's context variables); fields passed with
``extra=`` are added. Values under secret-looking keys (password, token, authorization, api_key, cookie, …)
are replaced by ``[REDACTED]``, and so are bearer tokens, provider API keys (``sk-…``), AWS access keys,
JWTs and URL passwords wherever they appear in text. Tracebacks are printed without local variables.
Everything non-ASCII or non-printable is escaped, so one record is always exactly one line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import IO, Any

from jobpulse.redaction import REDACTED, redact_text, redact_value, secret_key
from jobpulse.redaction import SECRET_PATTERNS as SECRET_PATTERNS  # where they were defined before
from jobpulse.redaction import SECRET_WORDS as SECRET_WORDS
from jobpulse.runtime.context import current_context

__all__ = [
    "REDACTED",
    "ContextFilter",
    "JsonFormatter",
    "configure",
    "redact_text",
    "redact_value",
    "secret_key",
]

CONTEXT_FIELDS = ("trace_id", "request_id", "user_id", "job_id", "batch_id")
#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = list(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_N_STANDARD = len(_STANDARD)
_RESERVED = frozenset(_STANDARD) | {"message", "asctime", "taskName"}
_VALIDATED = frozenset({"trace_id", "request_id"})


def format_exception(exc_info: Any) -> str:
    """A traceback as the standard library prints it — never with local variables — with secrets redacted."""
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    text = "".join(traceback.format_exception(*exc_info, limit=50))
    return redact_text(text.rstrip("\n"))


class ContextFilter(logging.Filter):
    """Copies the current request/job ids onto each record (as ``record.trace_id`` …) when it is created.

    Attach it to handlers that format later or on another thread (``QueueHandler``): the context
    variables are only visible in the thread and task that logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_context()
        if ctx is not None:
            for name in CONTEXT_FIELDS:
                if getattr(record, name, None) is None:
                    value = getattr(ctx, name)
                    if value is not None:
                        setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, in the field order of seed 001, ASCII only."""

    def __init__(self, *, static_fields: Mapping[str, Any] | None = None, redact: bool = True) -> None:
        super().__init__()
        self.static_fields = dict(static_fields or {})
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception as exc:  # a log line must never raise into the app
            fallback = {
                "timestamp": _timestamp(time.time()),
                "level": "ERROR",
                "logger": "jobpulse.logging",
                "message": f"could not format a log record from {record.name!r}: {type(exc).__name__}",
            }
            return json.dumps(fallback, ensure_ascii=True)

    def _format(self, record: logging.LogRecord) -> str:
        redact = redact_value if self.redact else _plain
        message = record.getMessage()
        out: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(message) if self.redact else message,
        }
        ctx = current_context()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None and ctx is not None:
                value = getattr(ctx, name)
            if value is not None:
                # trace and request ids from the context were validated (or generated) on the way in
                trusted = name in _VALIDATED and ctx is not None and value is getattr(ctx, name)
                out[name] = value if trusted else redact(value)
        extras = record.__dict__
        for key in ("duration_ms", "status_code"):
            if key in extras:
                out[key] = extras[key]
        # a LogRecord's own attributes come first in its __dict__; extras, and attributes set later, follow
        for key in list(extras)[_N_STANDARD:]:
            if key in _RESERVED or key in out or key.startswith("_"):
                continue
            value = extras[key]
            out[key] = REDACTED if self.redact and secret_key(key) else redact(value)
        for key, value in self.static_fields.items():
            out.setdefault(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = format_exception(record.exc_info)
        elif record.exc_text:
            out["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            out["stack"] = redact_text(record.stack_info)
        return _ENCODER.encode(out)


def _plain(value: Any, depth: int = 0) -> Any:
    return value


_last_second: list[tuple[int, str]] = [(-1, "")]  # (second, its formatted text), replaced as one object
_ENCODER = json.JSONEncoder(ensure_ascii=True, default=str)


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-01-28T15:30:00.123Z``."""
    seconds = int(created)
    cached = _last_second[0]
    if cached[0] != seconds:
        cached = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        _last_second[0] = cached
    return f"{cached[1]}.{int((created - seconds) * 1000):03d}Z"


_HANDLER_MARK = "_jobpulse_json_handler"


def configure(
    *,
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    logger: logging.Logger | str | None = None,
    static_fields: Mapping[str, Any] | None = None,
    redact: bool = True,
    quiet: Iterable[str] = ("uvicorn.access",),
) -> logging.Handler:
    """Log JSON lines to ``stream`` (stderr by default) from ``logger`` (the root logger by default).

    Calling it again replaces the handler it installed before rather than adding a second one.
    ``static_fields`` are added to every line (e.g. ``{"service": "ai-shorts"}``); loggers in ``quiet``
    (uvicorn's own access log, which the metrics middleware's access log replaces) are set to WARNING.
    """
    target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    for old in list(target.handlers):
        if getattr(old, _HANDLER_MARK, False):
            target.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(static_fields=static_fields, redact=redact))
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    target.addHandler(handler)
    target.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
