"""examples/ai_shorts (seed 001): the spec reproduces the seed, the app emits it, real Prometheus answers it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import jobpulse.logging as jlog
from jobpulse.demo.example import load_example
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec, load_spec_text
from jobpulse.testing import total
from tests.helpers import ROOT
from tests.runtime.http.test_middleware import call

SPEC = ROOT / "examples" / "ai_shorts" / "jobpulse.yaml"

#: The seed's "Available Metrics", name → labels, exactly as listed (7 counters, 3 gauges, 4 histograms).
SEED_METRICS = {
    "llm_requests_total": ("counter", ("model", "status")),
    "cache_hits_total": ("counter", ()),
    "cache_misses_total": ("counter", ()),
    "jobs_created_total": ("counter", ("job_type",)),
    "jobs_completed_total": ("counter", ("job_type", "status")),
    "batches_created_total": ("counter", ()),
    "batches_completed_total": ("counter", ("status",)),
    "active_jobs": ("gauge", ()),
    "cache_entries": ("gauge", ()),
    "active_users": ("gauge", ()),
    "job_duration_seconds": ("histogram", ("job_type",)),
    "llm_latency_seconds": ("histogram", ("model",)),
    "batch_processing_seconds": ("histogram", ()),
    "tokens_used": ("histogram", ("model",)),
}
#: The alerts with their severities, as the seed's lists have them (its counts say 2 critical; it lists 3).
SEED_ALERTS = {
    "BatchProcessingFailure": ("critical", "1m"),
    "ServiceDown": ("critical", "1m"),
    "DatabaseConnectionIssue": ("critical", "2m"),
    "HighErrorRate": ("warning", "5m"),
    "HighLatency": ("warning", "10m"),
    "LLMHighErrorRate": ("warning", "5m"),
    "HighActiveJobs": ("warning", "5m"),
    "LowCacheHitRate": ("info", "15m"),
}
SEED_DASHBOARDS = {
    "Main Dashboard": [
        "Success rate (24h)",
        "Error rate (1h)",
        "Active jobs",
        "Cache hit rate",
        "Latency (p50, p95, p99)",
        "Request rate",
    ],
    "Services Dashboard": [
        "LLM request rate by model",
        "LLM latency (p95) by model",
        "LLM error rate",
        "Batch processing time",
        "Cache performance",
        "Cache size",
    ],
    "Cost Dashboard": [
        "Token usage (24h) by model",
        "LLM API calls",
        "Total jobs created",
        "Token distribution",
        "Estimated cost (USD)",
        "Cache savings (USD)",
    ],
}
#: The seed's three "Example Queries", verbatim.
SEED_QUERIES = {
    "success rate": """(sum(rate(jobs_completed_total{status="success"}[5m]))
 / sum(rate(jobs_completed_total[5m]))) * 100""",
    "p95 latency": """histogram_quantile(0.95,
  sum(rate(job_duration_seconds_bucket[5m])) by (le, job_type)
)""",
    "cache hit rate": """(sum(rate(cache_hits_total[5m]))
 / (sum(rate(cache_hits_total[5m])) + sum(rate(cache_misses_total[5m])))) * 100""",
}


# -- the spec --------------------------------------------------------------------------------------------------
def test_the_seeds_metrics_are_all_there_with_their_labels() -> None:
    spec = load_spec(SPEC)
    found = {name: (m.type, m.label_names) for name, m in spec.metrics.items() if name in SEED_METRICS}
    assert found == SEED_METRICS
    # the only other metrics are jobpulse's three, for the request-rate panel and the database alert
    assert set(spec.metrics) - set(SEED_METRICS) == {
        "http_requests_total",
        "http_request_duration_seconds",
        "db_connection_errors_total",
    }


def test_the_eight_alerts_have_the_seeds_severities() -> None:
    spec = load_spec(SPEC)
    assert {a.name: (a.severity, a.for_) for a in spec.alerts} == SEED_ALERTS


def test_the_three_dashboards_have_the_seeds_panels() -> None:
    spec = load_spec(SPEC)
    assert {d.title: [p.title for p in d.panels] for d in spec.dashboards} == SEED_DASHBOARDS
    [pie] = [p for d in spec.dashboards for p in d.panels if p.title == "Token distribution"]
    assert pie.type == "piechart"


def test_the_seeds_example_queries_are_in_the_dashboards() -> None:
    spec = load_spec(SPEC)
    exprs = {" ".join(t.expr.split()) for d in spec.dashboards for p in d.panels for t in p.targets}
    for name in ("p95 latency", "cache hit rate"):
        assert " ".join(SEED_QUERIES[name].split()) in exprs, name


def test_every_alert_has_a_firing_and_a_silent_test() -> None:
    spec = load_spec(SPEC)
    firing: set[str] = set()
    silent: set[str] = set()
    for test in spec.tests:
        for case in test.alert_rule_test:
            (firing if case.exp_alerts else silent).add(case.alertname)
    assert firing == silent == set(SEED_ALERTS)


def test_queries_may_use_up_with_target_labels_only() -> None:
    base = "version: jobpulse/v1\nservice: {name: s}\nmetrics: [{name: x_total, type: counter, help: X.}]\n"
    alert = "alerts: [{name: Down, expr: '%s', severity: critical, summary: s, description: d}]\n"
    load_spec_text(base + alert % 'up{job="s"} == 0')
    with pytest.raises(SpecError, match="unknown label 'pod' on up"):
        load_spec_text(base + alert % 'up{pod="p"} == 0')


# -- the app, in process -------------------------------------------------------------------------------------------
@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    example = load_example(SPEC.parent)
    loggers = [logging.getLogger(name) for name in ("ai_shorts", "jobpulse.access")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    handler = example.app_module.configure_logging(logging.StreamHandler(stream))
    try:
        yield stream
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


@pytest.fixture
async def shorts() -> AsyncIterator[tuple[Any, CollectorRegistry]]:
    example = load_example(SPEC.parent)
    registry = CollectorRegistry()
    app = example.create_app(registry=registry, time_scale=0.01, workers=2)
    async with app.router.lifespan_context(app):
        yield app, registry


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


@pytest.mark.anyio
@pytest.mark.parametrize("sent", [None, "4bf92f3577b34da6a3ce929d0e0e4736"], ids=["new trace", "X-Trace-ID sent"])
async def test_a_job_logs_the_trace_id_its_request_got(
    shorts: tuple[Any, CollectorRegistry], log_lines: io.StringIO, sent: str | None
) -> None:
    """Seed 001's trace propagation: the response's X-Trace-ID is in every log line of the request and of its job;
    a client that sends an X-Trace-ID (one an earlier response gave it) keeps it (issue 17, item 7)."""
    app, registry = shorts
    body = json.dumps({"job_type": "script", "prompt": "a robot cooks"}).encode()
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    headers = [(b"x-user-id", b"user_789")] + ([(b"x-trace-id", sent.encode())] if sent else [])
    response = await call(app, "/api/v1/jobs", method="POST", headers=headers, receive=receive)
    assert response.status == 202
    job_id = json.loads(response.body)["job_id"]
    trace_id = response.header("x-trace-id")
    assert trace_id and response.header("x-request-id")
    assert trace_id == (sent or trace_id)
    await wait_until(lambda: total(registry, "jobs_completed_total", job_type="script") == 1)

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    by_message = {line["message"]: line for line in lines}
    completed = by_message["job completed"]
    assert completed["trace_id"] == trace_id and completed["job_id"] == job_id
    assert completed["user_id"] == "user_789" and completed["logger"] == "ai_shorts.worker"
    assert isinstance(completed["duration_ms"], float)
    [access] = [line for line in lines if line["logger"] == "jobpulse.access"]
    assert (access["status_code"], access["route"], access["trace_id"]) == (202, "/api/v1/jobs", trace_id)
    assert set(jlog.CONTEXT_FIELDS) - {"batch_id"} <= set(access)

    assert total(registry, "jobs_created_total", job_type="script") == 1
    assert total(registry, "llm_requests_total", model="gpt-4o", status="success") == 1
    assert total(registry, "tokens_used_count", model="gpt-4o") == 1
    # every LLM call is a cache miss here (an empty cache); a simulated LLM error is retried, a call more
    assert total(registry, "cache_misses_total") == total(registry, "llm_requests_total") >= 1
    assert total(registry, "active_jobs") == 0
    assert total(registry, "http_requests_total", route="/api/v1/jobs", status_code="202", method="POST") == 1


@pytest.mark.anyio
async def test_batches_and_health(shorts: tuple[Any, CollectorRegistry]) -> None:
    app, registry = shorts
    body = json.dumps({"job_type": "video", "prompts": ["a", "b", "c"]}).encode()
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    response = await call(app, "/api/v1/batches", method="POST", receive=receive)
    assert response.status == 202 and len(json.loads(response.body)["job_ids"]) == 3
    await wait_until(lambda: total(registry, "batches_completed_total", status="success") == 1)
    assert total(registry, "batch_processing_seconds_count") == 1
    assert total(registry, "jobs_completed_total", job_type="video", status="success") == 3

    health = await call(app, "/health")
    assert health.status == 200 and json.loads(health.body)["status"] == "ok"
    assert health.header("x-trace-id")
    assert total(registry, "http_requests_total", route="/health") == 0  # probes are not traffic


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "metric", "labels"),
    [
        ("db-errors", "db_connection_errors_total", {}),
        ("failure-spike", "jobs_completed_total", {"status": "failure"}),
        ("llm-errors", "llm_requests_total", {"status": "error"}),
    ],
)
async def test_fault_scenarios_move_their_metric(scenario: str, metric: str, labels: dict[str, str]) -> None:
    example = load_example(SPEC.parent)
    registry = CollectorRegistry()
    app = example.create_app(registry=registry, time_scale=0.01, workers=4, scenario=scenario)
    body = json.dumps({"job_type": "video", "prompts": [f"p{n}" for n in range(40)]}).encode()
    async with app.router.lifespan_context(app):
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        assert (await call(app, "/api/v1/batches", method="POST", receive=receive)).status == 202
        await wait_until(lambda: total(registry, "batches_completed_total") == 1, timeout=10)
    assert total(registry, metric, **labels) > 0


@pytest.mark.anyio
async def test_a_stalled_worker_pool_shows_in_active_jobs() -> None:
    example = load_example(SPEC.parent)
    registry = CollectorRegistry()
    app = example.create_app(registry=registry, time_scale=0.01, workers=3, scenario="stall")
    async with app.router.lifespan_context(app):
        body = json.dumps({"job_type": "video", "prompts": ["a", "b", "c", "d"]}).encode()
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        await call(app, "/api/v1/batches", method="POST", receive=receive)
        # more jobs running than there are workers, none finishing
        await wait_until(lambda: total(registry, "active_jobs") == 4)
        await asyncio.sleep(0.1)
        assert total(registry, "jobs_completed_total") == 0


# -- real Prometheus -------------------------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.anyio
async def test_the_seeds_queries_return_data_from_real_prometheus(prometheus_bin: str, tmp_path: Path) -> None:
    from jobpulse.compile import compile_spec
    from jobpulse.demo.server import AppServer
    from jobpulse.render.files import write_build
    from jobpulse.verify.servers import PrometheusServer, prometheus_config, scrape_config

    example = load_example(SPEC.parent)
    spec = load_spec(SPEC)
    build = compile_spec(spec)
    write_build(build, tmp_path / "build")
    app = example.create_app(registry=CollectorRegistry(), time_scale=0.02, workers=8)
    server = await AppServer(app).start()
    stop = asyncio.Event()
    workload = asyncio.create_task(example.run_workload(server.url, stop=stop, rate_per_second=40, seed=1))
    config = prometheus_config(
        scrape_configs=[scrape_config("ai-shorts", server.url.removeprefix("http://"), interval="1s")],
        evaluation_interval="1s",
    )
    prometheus = PrometheusServer(
        config=config,
        rule_files=[tmp_path / "build" / build.rule_file],
        workdir=tmp_path / "prometheus",
        binary=prometheus_bin,
    )
    await asyncio.to_thread(prometheus.start)
    try:

        def answered(query: str) -> list[dict[str, Any]]:
            return [r for r in prometheus.query(query) if r["value"][1] not in ("NaN", "+Inf", "-Inf")]

        for name, query in SEED_QUERIES.items():
            try:
                result = await asyncio.to_thread(prometheus.wait_for, lambda q=query: answered(q), 40.0, 0.5)
            except TimeoutError:
                pytest.fail(f"the seed's {name} query returned no data\n{prometheus.log_tail()}")
            values = [float(r["value"][1]) for r in result]
            if name == "p95 latency":
                assert {r["metric"]["job_type"] for r in result} <= {"script", "voiceover", "video", "thumbnail"}
                assert all(v > 0 for v in values)
            else:
                assert all(0 <= v <= 100 for v in values), values
        [up] = await asyncio.to_thread(prometheus.query, 'up{job="ai-shorts"}')
        assert up["value"][1] == "1"
        groups = await asyncio.to_thread(prometheus.rules)
        rules = [rule for group in groups for rule in group["rules"]]
        assert {rule["name"] for rule in rules} == set(SEED_ALERTS)
        assert all(rule["health"] in ("ok", "unknown") for rule in rules), rules
    finally:
        stop.set()
        stats = await workload
        await asyncio.to_thread(prometheus.stop)
        await server.stop()
    assert stats.trace_ids > 0 and stats.errors == 0
