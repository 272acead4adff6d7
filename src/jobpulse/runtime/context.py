"""One correlation context per request: trace id, span id, request id, and user/job/batch ids.

The context lives in a :class:`contextvars.ContextVar`, so it follows a request through ``await`` and into
tasks started from it. Incoming ids are untrusted: a W3C ``traceparent``, an ``X-Trace-ID`` or an
``X-Request-ID`` is used only when it is well-formed (exact length and character set); anything else is dropped
and a fresh id generated, so a hostile header never reaches a log line, a response header or a label.

A trace continues from ``traceparent`` when one is valid, else from ``X-Trace-ID`` (the header seed 001 names,
which jobpulse sends back on every response): a client that passes on the id it was given keeps its trace. An
``X-Trace-ID`` must be a W3C trace id (32 hex digits, not all zeros; upper case is lowered) like every trace id
jobpulse hands out, since the id travels on in ``traceparent`` to jobs and other services.
"""

from __future__ import annotations

import importlib
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jobpulse.asgi import Message, Receive, Scope, Send

__all__ = [
    "CorrelationMiddleware",
    "RequestContext",
    "bind",
    "current",
    "new_request_id",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "use",
    "valid_request_id",
    "valid_trace_id",
]

#: version-traceid-parentid-flags, lower-case hex only (W3C Trace Context, level 1).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
#: Letters, digits and ``. _ - : @``; no spaces, quotes, braces or control characters.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
REQUEST_ID_MAX = 128
TRACEPARENT_MAX = 128  # version 00 is 55 characters; later versions may append fields
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# Ids are random, not secret (they travel in headers): the random module (reseeded in a forked child)
# is several times cheaper than os.urandom, as OpenTelemetry's own id generator also reasons.
_bits = random.getrandbits


def new_trace_id() -> str:
    """32 lower-case hex digits (a W3C trace id), never all zeros."""
    return f"{_bits(128) or 1:032x}"


def new_span_id() -> str:
    """16 lower-case hex digits (a W3C span id), never all zeros."""
    return f"{_bits(64) or 1:016x}"


def new_request_id() -> str:
    """A random request id: 24 lower-case hex digits."""
    return f"{_bits(96):024x}"


def valid_request_id(value: str | bytes | None) -> str | None:
    """``value`` if it is a usable request id (1-128 of ``A-Za-z0-9._:@-``, starting with a letter or digit)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        if len(value) > REQUEST_ID_MAX:
            return None
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if len(value) > REQUEST_ID_MAX or not _REQUEST_ID.fullmatch(value):
        return None
    return value


def valid_trace_id(value: str | bytes | None) -> str | None:
    """``value`` in lower case if it is a usable trace id (an ``X-Trace-ID``): 32 hex digits, not all zeros."""
    if value is None or len(value) != 32:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not _TRACE_ID.fullmatch(value):
        return None
    value = value.lower()
    return None if value == _ZERO_TRACE else value


def parse_traceparent(value: str | bytes | None) -> tuple[str, str, bool] | None:
    """``(trace_id, parent_span_id, sampled)`` from a well-formed W3C ``traceparent``, else None.

    Version ``ff`` and all-zero ids are invalid; a future version may carry more fields after the
    fourth, which are ignored (as the specification asks).
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        if len(value) > TRACEPARENT_MAX:
            return None
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if len(value) > TRACEPARENT_MAX:
        return None
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    rest = value[match.end() :]
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == "00" and rest:
        return None
    if rest and (rest[0] != "-" or not re.fullmatch(r"-[\x21-\x7e]*", rest)):
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


class RequestContext:
    """The ids of one request (or job). ``user_id``, ``job_id`` and ``batch_id`` are set by the app."""

    __slots__ = ("batch_id", "job_id", "parent_span_id", "request_id", "sampled", "span_id", "trace_id", "user_id")

    def __init__(
        self,
        trace_id: str | None = None,
        span_id: str | None = None,
        request_id: str | None = None,
        *,
        parent_span_id: str | None = None,
        sampled: bool = False,
        user_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> None:
        self.trace_id = trace_id or new_trace_id()
        self.span_id = span_id or new_span_id()
        self.request_id = request_id or new_request_id()
        self.parent_span_id = parent_span_id
        self.sampled = sampled
        self.user_id = user_id
        self.job_id = job_id
        self.batch_id = batch_id

    @classmethod
    def from_headers(
        cls,
        headers: list[tuple[bytes, bytes]] | Any,
        *,
        trace_header: bytes = b"x-trace-id",
        request_header: bytes = b"x-request-id",
    ) -> RequestContext:
        """A context for an incoming request: valid ``traceparent``/``x-trace-id``/``x-request-id`` kept (the
        ``traceparent`` wins over ``x-trace-id``), the rest generated. Header names are lower case."""
        traceparent = trace_id = request_id = None
        for name, value in headers:
            if name == b"traceparent":
                traceparent = value
            elif name == trace_header:
                trace_id = value
            elif name == request_header:
                request_id = value
        parsed = parse_traceparent(traceparent) if traceparent is not None else None
        rid = valid_request_id(request_id) if request_id is not None else None
        if parsed is None:
            return cls(valid_trace_id(trace_id), request_id=rid)
        trace_id, parent, sampled = parsed
        return cls(trace_id, None, rid, parent_span_id=parent, sampled=sampled)

    def copy(self, **changes: str | None) -> RequestContext:
        new = RequestContext(
            self.trace_id,
            self.span_id,
            self.request_id,
            parent_span_id=self.parent_span_id,
            sampled=self.sampled,
            user_id=self.user_id,
            job_id=self.job_id,
            batch_id=self.batch_id,
        )
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    @property
    def traceparent(self) -> str:
        """This context as a W3C ``traceparent`` to send to the next service."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def as_dict(self) -> dict[str, str]:
        """The ids that are set, by field name (what a log line carries)."""
        out = {"trace_id": self.trace_id, "span_id": self.span_id, "request_id": self.request_id}
        for key in ("user_id", "job_id", "batch_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def __repr__(self) -> str:
        return f"RequestContext({self.as_dict()})"


_current: ContextVar[RequestContext | None] = ContextVar("jobpulse_request_context", default=None)
current_context = _current.get


def current() -> RequestContext | None:
    """The context of the running request or job, if any."""
    return _current.get()


def bind(*, user_id: object = None, job_id: object = None, batch_id: object = None) -> RequestContext | None:
    """Set user/job/batch ids on the current context (those given); returns it (None outside a request).

    The ids are set on the request's context object, so the access log line written when the
    request finishes carries them even when they were set in a thread-pool endpoint.
    """
    ctx = _current.get()
    if ctx is None:
        return None
    if user_id is not None:
        ctx.user_id = str(user_id)
    if job_id is not None:
        ctx.job_id = str(job_id)
    if batch_id is not None:
        ctx.batch_id = str(batch_id)
    return ctx


@contextmanager
def use(
    ctx: RequestContext | None = None, *, job_id: object = None, batch_id: object = None, user_id: object = None
) -> Iterator[RequestContext]:
    """Run a block under ``ctx`` (e.g. captured with :func:`current` when a job was enqueued in a request).

    Without ``ctx`` the block gets a fresh trace. A job worker writes::

        origin = context.current()            # in the request that enqueues the job
        ...
        with context.use(origin, job_id=job.id):   # in the worker
            log.info("job started")           # carries the request's trace_id and the job_id
    """
    base = ctx if ctx is not None else RequestContext()
    changes = {
        key: str(value)
        for key, value in (("job_id", job_id), ("batch_id", batch_id), ("user_id", user_id))
        if value is not None
    }
    new = base.copy(span_id=new_span_id(), **changes)
    token = _current.set(new)
    try:
        yield new
    finally:
        _current.reset(token)


# -- OpenTelemetry (optional) ------------------------------------------------------------------------------
def _load_otel() -> Any:
    """``opentelemetry.trace`` when opentelemetry-api is installed, else None (it is optional)."""
    try:
        return importlib.import_module("opentelemetry.trace")
    except ImportError:  # pragma: no cover - depends on what is installed
        return None


_otel_trace: Any = _load_otel()


def otel_ids() -> tuple[str, str, bool] | None:
    """``(trace_id, span_id, sampled)`` of the active OpenTelemetry span, if opentelemetry is installed and
    a valid span is active."""
    if _otel_trace is None:
        return None
    span_context = _otel_trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (
        format(span_context.trace_id, "032x"),
        format(span_context.span_id, "016x"),
        bool(span_context.trace_flags & 1),
    )


# -- middleware -------------------------------------------------------------------------------------------
_INTERNAL_ERROR = b"Internal Server Error"


class CorrelationMiddleware:
    """Give every HTTP request a :class:`RequestContext` and answer with ``X-Trace-ID``/``X-Request-ID``.

    A valid incoming ``traceparent`` continues its trace; without one, a valid incoming ``X-Trace-ID`` (the
    ``trace_header``) does; a valid ``X-Request-ID`` is kept.

    The headers are added to every response — also to the 500 sent for an unhandled exception, which this
    middleware sends itself (then re-raises, so the server still logs the error) when nothing was sent yet.
    With ``use_otel`` (default: when opentelemetry is installed) the ids of an active OpenTelemetry span win,
    so put OpenTelemetry's middleware outside this one.
    """

    def __init__(
        self,
        app: Any,
        *,
        trace_header: str = "x-trace-id",
        request_header: str = "x-request-id",
        use_otel: bool | None = None,
    ) -> None:
        self.app = app
        self.trace_header = trace_header.lower().encode("latin-1")
        self.request_header = request_header.lower().encode("latin-1")
        self.use_otel = (_otel_trace is not None) if use_otel is None else use_otel and _otel_trace is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext.from_headers(
            scope.get("headers", ()), trace_header=self.trace_header, request_header=self.request_header
        )
        if self.use_otel:
            ids = otel_ids()
            if ids is not None:
                ctx.trace_id, ctx.span_id, ctx.sampled = ids
        extra = [(self.trace_header, ctx.trace_id.encode()), (self.request_header, ctx.request_id.encode())]
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        token = _current.set(ctx)
        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            if not started:
                headers = [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                    *extra,
                ]
                try:
                    await send({"type": "http.response.start", "status": 500, "headers": headers})
                    await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
                except Exception:  # noqa: S110 - the client is gone; the original error is what matters
                    pass
            raise
        finally:
            _current.reset(token)
