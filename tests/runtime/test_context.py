"""Request context: id validation, response headers (also on 500s), hostile ids, jobs carrying the trace."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import jobpulse.logging as jlog
from jobpulse import Telemetry
from jobpulse.runtime import context
from jobpulse.runtime.context import (
    CorrelationMiddleware,
    RequestContext,
    parse_traceparent,
    valid_request_id,
    valid_trace_id,
)
from jobpulse.runtime.http import MetricsMiddleware
from tests.helpers import write_spec
from tests.runtime.http.test_middleware import call

HEX32 = re.compile(r"[0-9a-f]{32}")
GOOD_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# -- validators ----------------------------------------------------------------------------------------------------
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


@given(st.text(max_size=300))
def test_request_id_is_accepted_only_when_well_formed(text: str) -> None:
    result = valid_request_id(text)
    assert result is None or (result == text and REQUEST_ID_SHAPE.fullmatch(text) is not None)


@given(st.from_regex(REQUEST_ID_SHAPE, fullmatch=True))
def test_every_well_formed_request_id_is_kept(text: str) -> None:
    assert valid_request_id(text) == text
    assert valid_request_id(text.encode()) == text


@given(st.binary(max_size=300))
def test_request_id_bytes_are_ascii_and_safe_or_rejected(raw: bytes) -> None:
    result = valid_request_id(raw)
    assert result is None or (result.encode() == raw and REQUEST_ID_SHAPE.fullmatch(result))


@pytest.mark.parametrize(
    "hostile",
    ["", "abc\r\nX-Injected: 1", "A" * 10_240, "A" * 129, "ünïcødé", '{"level":"CRITICAL"}', "-leading-dash", "a b"],
)
def test_hostile_request_ids_are_rejected(hostile: str) -> None:
    assert valid_request_id(hostile) is None
    assert valid_request_id(hostile.encode()) is None


@given(
    st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s != "0" * 32),
    st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda s: s != "0" * 16),
    st.sampled_from(["00", "01", "02", "ff"]),
)
def test_valid_traceparent_round_trips(trace_id: str, span_id: str, flags: str) -> None:
    parsed = parse_traceparent(f"00-{trace_id}-{span_id}-{flags}")
    assert parsed == (trace_id, span_id, bool(int(flags, 16) & 1))


@given(st.text(max_size=200))
def test_anything_parsed_as_traceparent_has_clean_ids(text: str) -> None:
    parsed = parse_traceparent(text)
    if parsed is not None:
        trace_id, span_id, _ = parsed
        assert HEX32.fullmatch(trace_id) and trace_id != "0" * 32
        assert re.fullmatch(r"[0-9a-f]{16}", span_id) and span_id != "0" * 16
        assert text.startswith("00-") or text[:2] != "ff"


@pytest.mark.parametrize(
    "hostile",
    [
        GOOD_TRACEPARENT + "\r\nX-Injected: 1",
        GOOD_TRACEPARENT.upper(),
        "ff" + GOOD_TRACEPARENT[2:],
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        GOOD_TRACEPARENT + "-extra",  # version 00 has exactly four fields
        "00-" + "a" * 10_000,
        '{"traceparent": "00-x"}',
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0ü",
    ],
)
def test_hostile_traceparents_are_rejected(hostile: str) -> None:
    assert parse_traceparent(hostile) is None


def test_future_traceparent_versions_may_carry_more_fields() -> None:
    assert parse_traceparent("01" + GOOD_TRACEPARENT[2:] + "-what-ever") is not None


# -- the middleware ---------------------------------------------------------------------------------------------------
LOG = logging.getLogger("tests.context.app")


async def echo(request: Request) -> Response:
    LOG.info("handling %s", request.url.path)
    context.bind(user_id="user_789")
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    raise RuntimeError("unhandled")


def routes() -> list[Route]:
    return [Route("/echo", echo), Route("/boom", boom)]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    # the lines must reach the root logger whatever other tests did to these loggers
    loggers = [logging.getLogger(name) for name in ("jobpulse.access", LOG.name, "tests.context.worker")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    handler = jlog.configure(stream=stream, level=logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.setLevel(level)
            logger.propagate = propagate


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.anyio
async def test_valid_incoming_ids_are_kept_and_sent_back() -> None:
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    result = await call(
        app, "/echo", headers=[(b"traceparent", GOOD_TRACEPARENT.encode()), (b"x-request-id", b"req_456")]
    )
    assert result.header("x-trace-id") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert result.header("x-request-id") == "req_456"


@given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9a-fA-F]{32}", fullmatch=True)))
def test_trace_id_is_accepted_only_as_32_hex_digits(text: str) -> None:
    result = valid_trace_id(text)
    if HEX32.fullmatch(text.lower()) and text.strip("0"):
        assert result == text.lower()
        assert valid_trace_id(text.encode()) == result
    else:
        assert result is None


@pytest.mark.parametrize("bad", ["0" * 32, "trace_abc123def456", "4bf92f3577b34da6a3ce929d0e0e473", "g" * 32, "é" * 32])
def test_malformed_trace_ids_are_refused(bad: str) -> None:
    assert valid_trace_id(bad) is None
    assert valid_trace_id(bad.encode()) is None


@pytest.mark.anyio
async def test_a_valid_incoming_x_trace_id_is_kept(log_stream: io.StringIO) -> None:
    """Seed 001 names X-Trace-ID as its trace header: a client that sends back the id it got keeps its trace."""
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    sent = "4BF92F3577B34DA6A3CE929D0E0E4736"
    result = await call(app, "/echo", headers=[(b"x-trace-id", sent.encode())])
    assert result.header("x-trace-id") == sent.lower()
    [line] = lines(log_stream)
    assert line["trace_id"] == sent.lower()


@pytest.mark.anyio
async def test_traceparent_wins_over_x_trace_id() -> None:
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    for order in (1, -1):
        headers = [(b"x-trace-id", b"0af7651916cd43dd8448eb211c80319c"), (b"traceparent", GOOD_TRACEPARENT.encode())]
        result = await call(app, "/echo", headers=headers[::order])
        assert result.header("x-trace-id") == "4bf92f3577b34da6a3ce929d0e0e4736"
    # an invalid traceparent does not hide a valid X-Trace-ID
    headers = [(b"x-trace-id", b"0af7651916cd43dd8448eb211c80319c"), (b"traceparent", b"00-nonsense")]
    result = await call(app, "/echo", headers=headers)
    assert result.header("x-trace-id") == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.anyio
async def test_a_custom_trace_header_is_read_and_sent() -> None:
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False, trace_header="X-Correlation-ID")
    result = await call(app, "/echo", headers=[(b"x-correlation-id", b"0af7651916cd43dd8448eb211c80319c")])
    assert result.header("x-correlation-id") == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.anyio
async def test_ids_are_generated_when_absent() -> None:
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    first, second = await call(app, "/echo"), await call(app, "/echo")
    assert HEX32.fullmatch(first.header("x-trace-id") or "")
    assert first.header("x-trace-id") != second.header("x-trace-id")
    assert first.header("x-request-id") != second.header("x-request-id")


@pytest.mark.anyio
@pytest.mark.parametrize("placement", ["inside ServerErrorMiddleware", "outermost"])
async def test_unhandled_500_still_carries_the_ids(placement: str) -> None:
    if placement == "outermost":
        app: Any = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    else:
        app = Starlette(routes=routes(), middleware=[Middleware(CorrelationMiddleware, use_otel=False)])
    result = await call(app, "/boom", headers=[(b"x-request-id", b"req-500")])
    assert result.status == 500
    assert isinstance(result.error, RuntimeError)  # re-raised, so the server still logs it
    assert HEX32.fullmatch(result.header("x-trace-id") or "")
    assert result.header("x-request-id") == "req-500"
    assert [m["type"] for m in result.messages].count("http.response.start") == 1


HOSTILE = [
    "evil\r\nX-Injected: 1",
    "evil" * 2_560,  # 10 kB
    "évil-ünïcødé-値",
    '{"level": "CRITICAL", "trace_id": "evil"}',
    "evil\x00\x1b[31m",
]


@pytest.mark.anyio
@pytest.mark.parametrize("hostile", HOSTILE)
async def test_hostile_ids_never_reach_headers_logs_or_labels(hostile: str, log_stream: io.StringIO) -> None:
    registry = CollectorRegistry()
    app = CorrelationMiddleware(
        MetricsMiddleware(Starlette(routes=routes()), registry=registry, access_log=True), use_otel=False
    )
    raw = hostile.encode("utf-8")
    headers = [(b"x-request-id", raw), (b"traceparent", raw), (b"traceparent", b"00-" + raw), (b"x-trace-id", raw)]
    result = await call(app, "/echo", headers=headers)
    assert result.status == 200
    exposed = generate_latest(registry)
    logged = log_stream.getvalue()
    for where in (b"".join(v for _, v in result.headers), exposed, logged.encode()):
        assert b"evil" not in where
    assert len(logged.splitlines()) == 2  # the app's line and the access line, nothing injected
    app_line, access_line = lines(log_stream)
    assert app_line["trace_id"] == access_line["trace_id"] == result.header("x-trace-id")
    assert access_line["request_id"] == result.header("x-request-id")
    assert access_line["user_id"] == "user_789"  # set by the endpoint with context.bind()


@pytest.mark.anyio
async def test_log_lines_of_one_request_share_its_trace_id(log_stream: io.StringIO) -> None:
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=False)
    result = await call(app, "/echo", headers=[(b"traceparent", GOOD_TRACEPARENT.encode())])
    [line] = lines(log_stream)
    assert line["trace_id"] == result.header("x-trace-id") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["message"] == "handling /echo"
    assert context.current() is None  # nothing leaks out of the request


JOB_SPEC = """\
version: jobpulse/v1
service: {name: shorts}
metrics:
  - name: jobs_created_total
    type: counter
    help: Jobs created.
  - name: jobs_completed_total
    type: counter
    help: Jobs completed.
    labels:
      status: {values: [success, failure]}
jobs:
  - name: video
    outcome_label: status
    metrics: {enqueued: jobs_created_total, completed: jobs_completed_total}
"""


@pytest.mark.anyio
async def test_a_job_enqueued_in_a_request_logs_the_requests_trace_id(tmp_path: Any, log_stream: io.StringIO) -> None:
    telemetry = Telemetry.from_file(write_spec(tmp_path, JOB_SPEC), registry=CollectorRegistry())
    tracker = telemetry.job("video")
    queue: asyncio.Queue[tuple[Any, RequestContext | None]] = asyncio.Queue()
    worker_log = logging.getLogger("tests.context.worker")

    async def create(request: Request) -> Response:
        job = tracker.enqueue()
        await queue.put((job, context.current()))  # the origin travels with the job
        return JSONResponse({"job_id": job.id}, status_code=202)

    async def worker() -> None:
        job, origin = await queue.get()
        with context.use(origin, job_id=job.id):
            job.start()
            worker_log.info("job finished")
            job.succeed()

    app = CorrelationMiddleware(Starlette(routes=[Route("/jobs", create, methods=["POST"])]), use_otel=False)
    result = await call(app, "/jobs", method="POST")
    await asyncio.wait_for(worker(), 5)
    [line] = lines(log_stream)
    assert line["trace_id"] == result.header("x-trace-id")
    assert line["request_id"] == result.header("x-request-id")
    assert line["job_id"] == json.loads(result.body)["job_id"]


def test_use_without_a_request_starts_a_fresh_trace() -> None:
    with context.use(job_id="job_999", batch_id="batch_111") as ctx:
        assert context.current() is ctx
        assert (ctx.job_id, ctx.batch_id) == ("job_999", "batch_111")
        assert HEX32.fullmatch(ctx.trace_id)
        assert ctx.traceparent == f"00-{ctx.trace_id}-{ctx.span_id}-00"
    assert context.current() is None
    assert context.bind(user_id="nobody") is None


@pytest.mark.anyio
async def test_an_active_opentelemetry_span_supplies_the_ids() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("tests")
    app = CorrelationMiddleware(Starlette(routes=routes()), use_otel=True)
    with tracer.start_as_current_span("request") as span:
        result = await call(app, "/echo", headers=[(b"traceparent", GOOD_TRACEPARENT.encode())])
        expected = format(span.get_span_context().trace_id, "032x")
    assert result.header("x-trace-id") == expected != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_otlp_setup_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from jobpulse.integrations.otel import setup_tracing

    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if the SDK were not installed
    with pytest.raises(ImportError, match=r"pip install 'jobpulse\[otel\]'"):
        setup_tracing("ai-shorts")
