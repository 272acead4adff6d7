"""DogStatsD from the same instrumentation: a known workload through the job tracker and the HTTP
middleware, read datagram by datagram from a real UDP socket on loopback (client telemetry and origin
detection off, so every byte is known)."""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jobpulse import Telemetry
from jobpulse.runtime.dogstatsd import DogStatsdSink
from jobpulse.runtime.middleware import MetricsMiddleware
from jobpulse.spec.load import load_spec_text
from jobpulse.spec.model import Spec
from tests.datastores_fixtures import serve

SPEC = """\
version: jobpulse/v1
service: {name: shop}
metrics:
  - {name: jobs_total, type: counter, help: Jobs., labels: {queue: {values: [default, high]}}}
  - name: jobs_done_total
    type: counter
    help: Jobs done.
    labels: {queue: {values: [default, high]}, outcome: {values: [ok, error]}}
  - {name: job_seconds, type: histogram, unit: seconds, help: Job time., labels: {outcome: {values: [ok, error]}}}
  - {name: queue_depth, type: gauge, help: Waiting., labels: {queue: {values: [default, high]}}}
  - name: http_requests_total
    type: counter
    help: Requests.
    labels: {env: {values: [prod]}, route: {max_values: 2}, status: {max_values: 10}}
  - {name: http_request_seconds, type: histogram, unit: seconds, help: Latency., labels: {route: {max_values: 2}}}
jobs:
  - name: work
    attributes: [queue]
    outcomes: {success: ok, failure: error}
    metrics: {enqueued: jobs_total, completed: jobs_done_total, duration: job_seconds, queue_depth: queue_depth}
datadog:
  metrics:
    http_requests_total:
      name: shop.http.requests
      derived: [{name: shop.http.5xx, where: {status: "5.."}}]
    http_request_seconds: {name: shop.http.latency, unit: milliseconds}
"""
LINE = re.compile(
    r"^(?P<name>[A-Za-z][A-Za-z0-9_.]*):(?P<value>-?[0-9.e+-]+)\|(?P<type>c|g|d|ms|h|s)(?:\|#(?P<tags>[^|]*))?$"
)


class Listener:
    """A DogStatsD server as far as the client can tell: a UDP socket on 127.0.0.1."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.port = self.sock.getsockname()[1]

    def datagram(self) -> list[str]:
        """The next datagram's lines, each checked against the DogStatsD line format."""
        payload = self.sock.recv(65535).decode()
        lines = payload.rstrip("\n").split("\n")
        for line in lines:
            assert LINE.match(line), line
        return lines

    def nothing_more(self) -> bool:
        self.sock.settimeout(0.2)
        try:
            self.sock.recv(65535)
        except TimeoutError:
            return True
        return False


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch) -> Spec:
    for name in ("DD_SERVICE", "DD_TAGS", "DATADOG_TAGS", "DD_AGENT_HOST", "DD_DOGSTATSD_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DD_ENV", "staging")  # the http metric's own env label wins over it
    monkeypatch.setenv("DD_VERSION", "v7")
    return load_spec_text(SPEC)


def make_sink(spec: Spec, listener: Listener) -> DogStatsdSink:
    return DogStatsdSink(
        spec, host="127.0.0.1", port=listener.port, flush_interval=0, telemetry=False, origin_detection=False
    )


def test_a_job_is_one_datagram_flushed_at_its_end(spec: Spec, listener: Listener) -> None:
    sink = make_sink(spec, listener)
    registry = CollectorRegistry()
    telemetry = Telemetry(spec, registry=registry, sinks=[sink])
    now = [100.0]
    tracker = telemetry.job("work", clock=lambda: now[0])
    job = tracker.enqueue("job-1", queue="default")
    job.start()
    assert listener.nothing_more(), "nothing is sent before the job ends (buffered)"
    now[0] += 0.25
    job.succeed()
    assert listener.datagram() == [
        "jobs:1|c|#service:shop,env:staging,version:v7,queue:default",
        "queue.depth:1.0|g|#service:shop,env:staging,version:v7,queue:default",
        "queue.depth:0.0|g|#service:shop,env:staging,version:v7,queue:default",
        "jobs.done:1|c|#service:shop,env:staging,version:v7,queue:default,outcome:ok",
        "job.seconds:0.25|d|#service:shop,env:staging,version:v7,outcome:ok",
    ]
    # a failure, and a queue value outside the allowed set: the tag is bounded like the label
    job = tracker.enqueue("job-2", queue="urgent")
    now[0] += 1.5
    job.fail(RuntimeError("boom"))
    assert listener.datagram() == [
        "jobs:1|c|#service:shop,env:staging,version:v7,queue:__other__",
        "queue.depth:1.0|g|#service:shop,env:staging,version:v7,queue:__other__",
        "queue.depth:0.0|g|#service:shop,env:staging,version:v7,queue:__other__",
        "jobs.done:1|c|#service:shop,env:staging,version:v7,queue:__other__,outcome:error",
        "job.seconds:1.5|d|#service:shop,env:staging,version:v7,outcome:error",
    ]
    assert listener.nothing_more()
    # prometheus_client saw the same updates
    assert registry.get_sample_value("jobs_total", {"queue": "default"}) == 1
    assert registry.get_sample_value("job_seconds_sum", {"outcome": "error"}) == 1.5
    sink.close()


def test_http_requests_through_the_middleware(spec: Spec, listener: Listener) -> None:
    sink = make_sink(spec, listener)
    telemetry = Telemetry(spec, registry=CollectorRegistry(), sinks=[sink])

    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def boom(request: object) -> PlainTextResponse:
        return PlainTextResponse("down", status_code=503)

    app = Starlette(
        routes=[Route("/ok", ok), Route("/boom", boom), Route("/third", ok)],
        middleware=[
            Middleware(
                MetricsMiddleware.from_telemetry,
                telemetry=telemetry,
                requests="http_requests_total",
                duration="http_request_seconds",
                constant_labels={"env": "prod"},
            )
        ],
    )
    with serve(app) as url:
        for path in ("/ok", "/boom", "/third"):
            httpx.get(url + path, timeout=10)
    telemetry.flush()
    lines = listener.datagram()
    counts = [line for line in lines if "|c|" in line]
    assert counts == [
        "shop.http.requests:1|c|#service:shop,env:prod,version:v7,route:/ok,status:200",
        "shop.http.requests:1|c|#service:shop,env:prod,version:v7,route:/boom,status:503",
        "shop.http.5xx:1|c|#service:shop,env:prod,version:v7,route:/boom,status:503",
        # a third route is over the label's budget of 2: __other__, in the tag as in the label
        "shop.http.requests:1|c|#service:shop,env:prod,version:v7,route:__other__,status:200",
    ]
    latencies = [LINE.match(line) for line in lines if "|d|" in line]
    assert [m["tags"] for m in latencies if m] == [
        "service:shop,env:staging,version:v7,route:/ok",
        "service:shop,env:staging,version:v7,route:/boom",
        "service:shop,env:staging,version:v7,route:__other__",
    ]
    assert all(m and m["name"] == "shop.http.latency" and 0 < float(m["value"]) < 5000 for m in latencies)
    sink.close()


def test_dogstatsd_only_and_a_dead_agent_never_raise(spec: Spec, listener: Listener) -> None:
    sink = make_sink(spec, listener)
    telemetry = Telemetry(spec, registry=None, sinks=[sink])  # DogStatsD instead of prometheus_client
    telemetry.metric("queue_depth").set(7, queue="high")
    with telemetry.metric("job_seconds").labels(outcome="ok").time():
        pass
    telemetry.flush()
    lines = listener.datagram()
    assert lines[0] == "queue.depth:7.0|g|#service:shop,env:staging,version:v7,queue:high"
    assert lines[1].startswith("job.seconds:") and lines[1].endswith(
        "|d|#service:shop,env:staging,version:v7,outcome:ok"
    )
    listener.sock.close()  # nobody listens any more: sends fail silently
    sink.client.close_socket()
    sink.client.port = 1  # a port nothing listens on
    for _ in range(3):
        telemetry.metric("jobs_total").inc(queue="high")
    telemetry.flush()
    sink.close()
    sink.close()


VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["default", "high", "urgent"]), VALUES), min_size=1, max_size=12))
def test_tags_are_bounded_exactly_like_labels(spec: Spec, updates: list[tuple[str, str]]) -> None:
    """Whatever the values, the tags of each line are the Prometheus labels of the same update."""
    listener = Listener()
    try:
        sink = make_sink(spec, listener)
        registry = CollectorRegistry()
        telemetry = Telemetry(spec, registry=registry, sinks=[sink])
        counter = telemetry.metric("http_requests_total")
        for queue, route in updates:
            counter.labels(env="prod", route=route, status=queue).inc()
        telemetry.flush()
        lines: list[str] = []
        while len(lines) < len(updates):
            lines += listener.datagram()
        sink.close()
    finally:
        listener.sock.close()
    sent = Counter(line.split("|#", 1)[1] for line in lines if line.startswith("shop.http.requests:"))
    exposed = Counter[str]()
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "http_requests_total":
                tags = ["service:shop", "env:prod", "version:v7"]
                tags += [f"{k}:{sample.labels[k]}" for k in ("route", "status")]
                exposed[",".join(normalize(t) for t in tags)] += int(sample.value)
    assert sent == exposed
    budget = {route for _, route in updates}
    assert len({tags.split(",")[3] for tags in sent}) <= min(len(budget), 2) + 1  # max_values 2, plus __other__


def normalize(tag: str) -> str:
    """What DogStatsD keeps of a tag (the client's own rule after jobpulse's)."""
    return re.sub(r"[^\w\d_\-:/.]", "_", re.sub(r"[|,#\s]", "_", tag))
