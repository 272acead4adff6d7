"""The platform example (seed 004) on real PostgreSQL and Redis, served by uvicorn, driven by its workload."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from jobpulse.demo.example import Example, load_example
from jobpulse.spec.load import load_spec
from jobpulse.verify.datastores import PostgresServer, RedisServer
from tests.datastores_fixtures import DATASTORE_PASSWORD, serve
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

HEARTBEAT = 0.2  # heartbeat interval; the TTL is three intervals
HEALTH = 0.3  # health check cache interval


@pytest.fixture(scope="module")
def example() -> Example:
    return load_example(ROOT / "examples" / "platform")


@pytest.fixture
def platform(
    example: Example, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[tuple[str, Any, RedisServer]]:
    app = example.create_app(
        registry=CollectorRegistry(),
        database_url=postgres_server.dsn,
        redis_url=redis_server.url,
        heartbeat_interval=HEARTBEAT,
        health_interval=HEALTH,
        schedule_scale=0.05,  # digest every 0.5 s, cleanup 0.75 s, billing_sync 1 s
        sample_interval=0.2,
        rng=random.Random(4),
    )
    with serve(app) as base:
        yield base, app, redis_server


def samples(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in values.items() if n == name and want <= ls)


def drive(example: Example, base: str, seconds: float) -> Any:
    async def run() -> Any:
        stop = asyncio.Event()
        assert example.run_workload is not None
        task = asyncio.ensure_future(example.run_workload(base, stop=stop, rate_per_second=40, seed=7))
        await asyncio.sleep(seconds)
        stop.set()
        return await task

    return asyncio.run(run())


def wait_until(predicate: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_workload_fills_the_seed_metrics_and_endpoints(example: Example, platform: tuple[str, Any, Any]) -> None:
    base, _, _ = platform
    stats = drive(example, base, 2.5)
    assert stats.posts > 10 and stats.generations > 10 and stats.reads > 0
    assert stats.server_errors == 0 and stats.errors == 0
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        time.sleep(0.5)  # let the workers drain the queue and the sampler run
        values = samples(http)
        # API: route templates, never raw paths; health probes and scrapes are not traffic
        assert total(values, "http_requests_total", route="/api/v1/posts", method="POST", status_code="202") > 10
        assert total(values, "http_requests_total", route="/api/v1/posts/{post_id}") > 0
        routes = {dict(ls).get("route") for (n, ls) in values if n == "http_requests_total"}
        assert not any(r and ("health" in r or r.rstrip("/").split("/")[-1].isdigit()) for r in routes), routes
        assert total(values, "http_request_duration_seconds_count") == total(values, "http_requests_total")
        # workers
        assert total(values, "worker_jobs_processed_total", job_type="publish_post", status="success") > 0
        assert total(values, "worker_jobs_processed_total", job_type="ai_generation", status="success") > 0
        assert total(values, "worker_job_duration_seconds_count") > 0
        now = time.time()
        for worker in ("worker-0", "worker-1"):
            last = total(values, "worker_last_heartbeat_timestamp_seconds", worker=worker)
            assert now - 2 < last <= now + 0.5, worker
        # scheduler
        assert total(values, "scheduler_jobs_scheduled_total", schedule="digest") >= 3
        assert total(values, "scheduler_execution_lag_seconds_count", schedule="digest") >= 2
        assert total(values, "scheduler_job_executions_total", status="success") >= 2
        assert now - 2 < total(values, "scheduler_last_tick_timestamp_seconds") <= now + 0.5
        # database (SQLAlchemy hooks and sampled gauges)
        assert total(values, "db_pool_size", db="main") == 10 and total(values, "db_pool_max_overflow", db="main") == 10
        assert total(values, "db_query_duration_seconds_count", db="main", operation="insert") >= stats.posts
        assert total(values, "db_transactions_total", db="main", outcome="commit") > stats.posts
        assert total(values, "db_size_bytes", db="main") > 1_000_000
        assert total(values, "db_index_scans_total") > 0
        # health and business
        assert total(values, "jobpulse_dependency_up", dependency="postgres") == 1
        assert total(values, "jobpulse_dependency_up", dependency="redis") == 1
        assert total(values, "platform_posts_published_total") > 0
        assert total(values, "platform_ai_generations_total") > 0
        assert total(values, "platform_revenue_usd_total") == pytest.approx(
            0.05 * total(values, "platform_ai_generations_total")
        )
        assert 1 <= total(values, "platform_active_organizations") <= 6
        assert total(values, "platform_active_users") >= 1
        assert total(values, "process_resident_memory_bytes") > 0

        # every catalogue metric is live; only the failure counters may still be empty on a healthy run
        spec = load_spec(example.spec_path)
        seen = {name for name, _ in values}
        for metric in spec.metrics.values():
            if metric.name in ("db_query_errors_total", "scheduler_job_failures_total"):
                continue
            assert any(series in seen for series in metric.series_names), f"{metric.name} has no samples"

        # the seed's health endpoints
        assert http.get("/api/v1/health").json()["status"] == "ok"
        assert http.get("/api/v1/health/ready").status_code == 200
        detailed = http.get("/api/v1/health/detailed")
        assert detailed.status_code == 200
        assert set(detailed.json()["dependencies"]) == {"postgres", "redis"}
        assert DATASTORE_PASSWORD not in detailed.text and "postgresql://" not in detailed.text
        # the seed's worker endpoints
        workers = http.get("/api/v1/workers/health").json()
        assert workers["count"] == 2 and {w["worker"] for w in workers["workers"]} == {"worker-0", "worker-1"}
        assert (workers["status"], workers["expected"], workers["missing"]) == ("ok", 2, [])
        assert all(w["info"]["jobs_processed"] > 0 for w in workers["workers"])
        one = http.get("/api/v1/workers/worker-1/heartbeat")
        assert one.status_code == 200 and one.json()["status"] == "alive"
        assert http.get("/api/v1/workers/worker-9/heartbeat").status_code == 404


def test_redis_outage_fails_readiness_while_the_api_keeps_serving(platform: tuple[str, Any, RedisServer]) -> None:
    base, _, redis_server = platform
    post = {"org": "acme", "author": "acme-user-1", "body": "hello"}
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        wait_until(lambda: http.get("/api/v1/health/ready").status_code == 200, 5, "never ready")
        redis_server.kill()
        killed = time.monotonic()
        wait_until(lambda: http.get("/api/v1/health/ready").status_code == 503, HEALTH + 1.5, "ready stayed 200")
        assert time.monotonic() - killed <= HEALTH + 1.5
        assert http.get("/api/v1/health/ready").json()["failing"] == ["redis"]
        for _ in range(5):
            assert http.post("/api/v1/posts", json=post).status_code == 202  # PostgreSQL only: still served
            assert http.get("/api/v1/health").status_code == 200
            assert http.get("/metrics").status_code == 200
        assert total(samples(http), "jobpulse_dependency_up", dependency="redis") == 0
        # the worker listing is cached for a second, then says it cannot tell
        wait_until(lambda: http.get("/api/v1/workers/health").status_code == 503, 2, "workers listing stayed 200")
        workers = http.get("/api/v1/workers/health")
        assert workers.json()["workers"] == [] and DATASTORE_PASSWORD not in workers.text
        redis_server.start()
        wait_until(lambda: http.get("/api/v1/health/ready").status_code == 200, HEALTH + 1.5, "ready not back")
        # heartbeats resume once Redis is back
        wait_until(lambda: http.get("/api/v1/workers/health").json().get("count") == 2, 3, "workers not back")


def test_stalled_workers_drop_out_and_come_back(platform: tuple[str, Any, Any]) -> None:
    base, app, _ = platform
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        wait_until(lambda: http.get("/api/v1/workers/health").json().get("count") == 2, 3, "workers never listed")
        app.state.faults.scenario = "stall"
        stalled = time.monotonic()
        wait_until(lambda: http.get("/api/v1/workers/health").json()["count"] == 0, 3 * HEARTBEAT + 1.5, "still listed")
        assert time.monotonic() - stalled <= 3 * HEARTBEAT + 1.5
        # issue 17: never "ok" with no live worker; both expected workers are named, and stay in the gauge
        stalled_health = http.get("/api/v1/workers/health")
        assert stalled_health.status_code == 503
        assert (stalled_health.json()["status"], stalled_health.json()["missing"]) == ("down", ["worker-0", "worker-1"])
        for worker in ("worker-0", "worker-1"):
            assert total(samples(http), "worker_last_heartbeat_timestamp_seconds", worker=worker) > 0
        for _ in range(5):
            http.post("/api/v1/posts", json={"org": "acme", "author": "a", "body": "queued while stalled"})
        time.sleep(0.3)
        assert total(samples(http), "worker_queue_depth", job_type="publish_post") >= 5
        app.state.faults.scenario = "healthy"
        wait_until(lambda: http.get("/api/v1/workers/health").json()["count"] == 2, 3, "workers not back")
        wait_until(lambda: total(samples(http), "worker_queue_depth") == 0, 5, "queue not drained")


def test_workers_that_stall_before_their_first_heartbeat_are_in_the_gauge(
    example: Example, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    """Issue 17: ``jobpulse demo platform --scenario stall`` starts with workers that never beat. They have no
    heartbeat of their own, yet both are in the gauge from the API's start (so WorkerOffline fires after 5 minutes)
    and the workers endpoint says they are missing instead of ``{"status": "ok", "count": 0}``."""
    app = example.create_app(
        registry=CollectorRegistry(),
        scenario="stall",
        database_url=postgres_server.dsn,
        redis_url=redis_server.url,
        heartbeat_interval=HEARTBEAT,
        health_interval=HEALTH,
        sample_interval=0.2,
    )
    started = time.time()
    with serve(app) as base, httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        # a previous test's heartbeats expire within three intervals
        wait_until(lambda: http.get("/api/v1/workers/health").status_code == 503, 3 * HEARTBEAT + 1.5, "still ok")
        health = http.get("/api/v1/workers/health").json()
        assert (health["status"], health["count"], health["expected"]) == ("down", 0, 2)
        assert health["missing"] == ["worker-0", "worker-1"]
        values = samples(http)
        for worker in ("worker-0", "worker-1"):
            since = total(values, "worker_last_heartbeat_timestamp_seconds", worker=worker)
            assert started - 1 <= since <= started + 30, worker  # the API's start, not a beat


def test_the_cpu_hog_adds_burners_below_its_range_and_puts_them_to_sleep_above_it(example: Example) -> None:
    """cpu-hog keeps the process at 0.9-1.2 cores. Burners kept from a busy moment took every core once the machine
    was quiet again, the event loop fell behind its queue, and WorkersQueueLagErrorBudgetBurn fired beside
    HighCpuUsage."""
    hog = example.app_module.hog_burners
    low, high = example.app_module.CPU_HOG_CORES
    cap = example.app_module.CPU_HOG_MAX_THREADS
    assert (low, high) == (0.9, 1.2)
    assert hog(0, 0.0) == 6  # a quiet machine: about 0.15 of a core each to start with
    assert hog(6, 0.3) == 10  # a busy one: more, the further below
    assert hog(10, 0.85) == 11  # just below: one more
    assert hog(30, 0.1) == cap  # never more than the cap
    assert hog(11, 1.0) == 11  # in range: as many as before
    assert hog(32, 1.95) == 14  # the machine is quiet again: the share that reaches 0.9 cores
    assert hog(14, 1.95) == 6
    assert hog(2, 1.3) == 1  # always one less while above
    assert hog(1, 1.5) == 1  # the app alone uses that much: one keeps burning
    # settles: from a busy moment's cap, a quiet machine (a core per burner, the app using 0.1) lands in range
    burning = cap
    for _ in range(8):
        burning = hog(burning, min(2.0, burning * 1.0 + 0.1))
    assert low <= min(2.0, burning + 0.1) <= high


def test_a_cpu_hog_burner_burns_only_while_its_index_is_below_the_count(example: Example) -> None:
    """The other half of the hog: a burner put to sleep (index >= ``burning``) stops taking CPU, and one woken takes
    it again. Measured on the burner thread's own CPU clock, whatever else the machine runs."""
    pressure = example.app_module.Pressure(platform=None)
    pressure.burn.set()
    burner = threading.Thread(target=pressure._burn, args=(0,), daemon=True)
    burner.start()
    clock = time.pthread_getcpuclockid(burner.ident)

    def burned(seconds: float) -> float:
        before = time.clock_gettime(clock)
        time.sleep(seconds)
        return time.clock_gettime(clock) - before

    try:
        assert burned(0.5) < 0.02  # burning = 0: asleep
        pressure.burning = 1
        deadline = time.monotonic() + 20
        while (taken := burned(0.5)) < 0.05:  # awake (on a busy machine its share of a core may be small)
            assert time.monotonic() < deadline, taken
        pressure.burning = 0
        deadline = time.monotonic() + 20
        while (taken := burned(0.5)) >= 0.02:  # asleep again once the derivation under way (~0.1 s of CPU) ends
            assert time.monotonic() < deadline, taken
    finally:
        pressure.burn.clear()
        burner.join(10)
    assert not burner.is_alive()
