"""A real Prometheus scrapes MetricsApp, in OpenMetrics and in the text format, and stores exactly our values.

One service (uvicorn, in this process) serves the same registry twice: ``/openmetrics`` as Prometheus asks
for it (its ``Accept`` header prefers OpenMetrics; gzip; a bearer token) and ``/text`` with the ``Accept``
header replaced by the text format's. The registry holds what is hard to get right: help text and label values
with quotes, backslashes, newlines and non-ASCII, NaN, ±Inf, -0.0, values written in Go's exponent form,
histograms with exemplars, a summary, info and enum metrics, a target_info and a custom collector. Every
series Prometheus stored for each job must have the value the exposition we served says (read back with
prometheus_client's parser of that format), and every series of the exposition must be in Prometheus; the
exemplars must come back through Prometheus' exemplar storage.
"""

from __future__ import annotations

import gzip
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from starlette.applications import Starlette
from starlette.routing import Mount

from jobpulse.runtime.exposition import MetricsApp
from jobpulse.verify.servers import PrometheusServer, prometheus_config, scrape_config

pytestmark = pytest.mark.integration

TOKEN = "e2e-token"
Series = tuple[str, frozenset[tuple[str, str]]]


class _Custom:
    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("e2e_custom_ratio", "A custom collector's gauge.", labels=["shard"])
        family.add_metric(["0"], 0.25)
        family.add_metric(["1"], 3e-9)
        yield family


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(target_info={"service": "e2e", "region": "eu"})
    jobs = Counter("e2e_jobs", 'Jobs \\ with "quotes"\nand a newline.', ["queue", "kind"], registry=registry)
    jobs.labels('a"b', "x\\y").inc(3)
    jobs.labels("é\nz", "plain").inc(2.5, exemplar={"trace_id": "abc123"})
    depth = Gauge("e2e_depth", "Depth.", ["queue"], registry=registry)
    for queue, value in [("nan", math.nan), ("inf", math.inf), ("neginf", -math.inf), ("big", 1234567.0),
                         ("huge", 2.5e21), ("tiny", 1e-7), ("negzero", -0.0), ("negative", -12.5)]:  # fmt: skip
        depth.labels(queue).set(value)
    latency = Histogram("e2e_latency_seconds", "Latency.", ["route"], buckets=(0.1, 1, 10), registry=registry)
    for value in (0.05, 0.5, 0.7, 5, 50):
        latency.labels("/users/{id}").observe(value)
    latency.labels("/users/{id}").observe(0.2, exemplar={"trace_id": "def456"})
    latency.labels("/empty")
    Summary("e2e_payload_bytes", "Payload.", unit="bytes", registry=registry).observe(512)
    Info("e2e_build", "Build.", registry=registry).info({"version": "1.2.3", "commit": "abc"})
    Enum("e2e_state", "State.", states=["starting", "running"], registry=registry).state("running")
    registry.register(_Custom())
    return registry


class _Recorder:
    """Keeps the last response's headers and (decompressed) body; with ``accept``, overrides the request's."""

    def __init__(self, app: Any, accept: bytes | None = None) -> None:
        self.app = app
        self.accept = accept
        self.headers: dict[bytes, bytes] = {}
        self.request_headers: dict[bytes, bytes] = {}
        self.body = b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.request_headers = {k.lower(): v for k, v in scope["headers"]}
        if self.accept is not None:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept"]
            scope = {**scope, "headers": [*headers, (b"accept", self.accept)]}
        chunks: list[bytes] = []

        async def record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.headers = {k.lower(): v for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, record)
        body = b"".join(chunks)
        if self.headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        if self.headers.get(b"content-type", b"").startswith((b"text/", b"application/")) and body:
            self.body = body


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, _Recorder]]]:
    registry = _registry()
    recorders = {
        "openmetrics": _Recorder(MetricsApp(registry, token=TOKEN)),
        "text": _Recorder(MetricsApp(registry), accept=b"text/plain;version=0.0.4"),
    }
    app = Starlette(routes=[Mount(f"/{name}", app=recorder) for name, recorder in recorders.items()])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"127.0.0.1:{port}", recorders
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


class _ExemplarPrometheus(PrometheusServer):
    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [*super().arguments(config_file, port), "--enable-feature=exemplar-storage"]


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str, served: tuple[str, dict[str, _Recorder]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    target, _ = served
    config = prometheus_config(
        scrape_configs=[
            scrape_config("openmetrics", target, interval="1s", metrics_path="/openmetrics/", bearer_token=TOKEN),
            scrape_config("text", target, interval="1s", metrics_path="/text/"),
        ]
    )
    server = _ExemplarPrometheus(config=config, workdir=tmp_path_factory.mktemp("prometheus"), binary=prometheus_bin)
    with server:
        yield server


def _expected(body: bytes, openmetrics: bool) -> dict[Series, float]:
    parse = parse_openmetrics if openmetrics else parse_text
    return {
        (sample.name, frozenset(sample.labels.items())): float(sample.value)
        for family in parse(body.decode("utf-8"))
        for sample in family.samples
    }


def _stored(prometheus: PrometheusServer, job: str) -> dict[Series, float]:
    result = prometheus.query(f'{{job="{job}", __name__=~"e2e_.*|target_info"}}')
    stored = {}
    for series in result:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        labels.pop("job")
        labels.pop("instance")
        stored[(name, frozenset(labels.items()))] = float(series["value"][1])
    return stored


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("job", ["openmetrics", "text"])
def test_prometheus_stores_the_values_we_serve(
    prometheus: PrometheusServer, served: tuple[str, dict[str, _Recorder]], job: str
) -> None:
    recorder = served[1][job]

    def scraped() -> bool:
        targets = [t for t in prometheus.targets() if t["labels"]["job"] == job]
        return bool(targets) and targets[0]["health"] == "up" and bool(_stored(prometheus, job))

    prometheus.wait_for(scraped, timeout=40)
    content_type = recorder.headers[b"content-type"].decode()
    if job == "openmetrics":  # what Prometheus negotiated, not what we forced
        assert b"application/openmetrics-text" in recorder.request_headers[b"accept"]
        assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    else:
        assert content_type.startswith("text/plain; version=0.0.4")
    assert recorder.headers[b"content-encoding"] == b"gzip"  # Prometheus accepts gzip; we sent level 1

    expected = _expected(recorder.body, openmetrics=job == "openmetrics")
    stored = _stored(prometheus, job)
    if job == "openmetrics":
        # Prometheus 2.42 reads an OpenMetrics `_created` line as the series' creation time, not as a series
        expected = {k: v for k, v in expected.items() if not k[0].endswith("_created") or k in stored}
    missing = sorted(str(k) for k in expected.keys() - stored.keys())
    extra = sorted(str(k) for k in stored.keys() - expected.keys())
    assert not missing and not extra, f"missing in Prometheus: {missing}; not in our exposition: {extra}"
    wrong = {k: (expected[k], stored[k]) for k in expected if not _same(expected[k], stored[k])}
    assert wrong == {}
    assert len(expected) > 30
    # the hard values made it through as such
    depth = {dict(labels)["queue"]: value for (name, labels), value in stored.items() if name == "e2e_depth"}
    assert math.isnan(depth["nan"]) and depth["inf"] == math.inf and depth["neginf"] == -math.inf
    assert depth["big"] == 1234567.0 and depth["huge"] == 2.5e21 and depth["tiny"] == 1e-7
    jobs = {dict(labels)["queue"]: value for (name, labels), value in stored.items() if name == "e2e_jobs_total"}
    assert jobs == {'a"b': 3.0, "é\nz": 2.5}


def test_exemplars_reach_prometheus(prometheus: PrometheusServer, served: tuple[str, dict[str, _Recorder]]) -> None:
    def exemplars() -> list[dict[str, Any]]:
        now = time.time()
        data: list[dict[str, Any]] = prometheus.api.data(
            "query_exemplars",
            {"query": '{job="openmetrics", __name__=~"e2e_.*"}', "start": str(now - 120), "end": str(now + 10)},
        )
        return data if len(data) >= 2 else []

    found = prometheus.wait_for(exemplars, timeout=40)
    by_metric = {
        series["seriesLabels"]["__name__"]: [(e["labels"]["trace_id"], float(e["value"])) for e in series["exemplars"]]
        for series in found
    }
    assert ("abc123", 2.5) in by_metric["e2e_jobs_total"]
    assert ("def456", 0.2) in by_metric["e2e_latency_seconds_bucket"]
