"""The platform spec (seed 004): the seed's dashboards and alerts, tested alerts, and panels that show data
when a real Prometheus scrapes the example app."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from jobpulse.compile import compile_spec
from jobpulse.demo.example import load_example
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from jobpulse.verify.datastores import PostgresServer, RedisServer
from jobpulse.verify.servers import PrometheusServer, prometheus_config, scrape_config
from tests.datastores_fixtures import serve
from tests.helpers import ROOT

SPEC = ROOT / "examples" / "platform" / "jobpulse.yaml"

#: dashboard uid (the seed's location /grafana/dashboards/<uid>) -> (title, the seed's panels)
SEED_DASHBOARDS = {
    "api-performance": (
        "API Performance",
        [
            "Request rate",
            "Response time percentiles",
            "Error rate percentage",
            "Active connections",
            "Memory usage",
            "CPU usage",
        ],
    ),
    "worker-health": (
        "Worker Health",
        [
            "Job processing rate",
            "Queue depth over time",
            "Worker heartbeat status",
            "Job success/failure rate",
            "Worker memory usage",
        ],
    ),
    "scheduler-performance": (
        "Scheduler Performance",
        [
            "Scheduled jobs count",
            "Execution lag distribution",
            "Success rate over time",
            "Failed job reasons",
            "Scheduler memory usage",
        ],
    ),
    "database-performance": (
        "Database Performance",
        [
            "Connection pool utilization",
            "Query duration percentiles",
            "Transaction rate",
            "Database size growth",
            "Index usage statistics",
        ],
    ),
    "business-metrics": (
        "Business Metrics",
        [
            "Active organizations",
            "Posts published per day",
            "AI generations per day",
            "Revenue metrics",
            "User engagement",
        ],
    ),
}

#: every alert of the seed (per dashboard, then its critical and warning lists) -> severity
SEED_ALERTS = {
    "ApiHighErrorRate": "warning",  # API: high error rate (>5%)
    "ApiHighResponseTime": "warning",  # API: p95 > 2s
    "HighMemoryUsage": "warning",  # API: memory > 80%; warning list: memory > 80%
    "WorkerOffline": "critical",  # worker: no heartbeat for 5 minutes; critical list: > 5 minutes
    "WorkerQueueDepthCritical": "critical",  # worker: queue depth > 1000
    "WorkerHighJobFailureRate": "warning",  # worker: failure rate > 10%
    "SchedulerHighExecutionLag": "warning",  # scheduler: lag > 5 minutes
    "SchedulerLowSuccessRate": "warning",  # scheduler: success rate < 90%
    "SchedulerOffline": "critical",  # scheduler offline
    "DatabaseConnectionPoolHigh": "warning",  # database: pool usage > 80%
    "DatabaseSlowQueries": "warning",  # database: slow queries > 1s
    "DatabaseSizeGrowth": "warning",  # database size growth rate
    "PostsPublishedDrop": "warning",  # business: unusual drop in posts
    "AiUsageSpike": "warning",  # business: high AI usage spike
    "RevenueAnomaly": "warning",  # business: revenue anomaly
    "ApiDown": "critical",  # critical: API down (5xx > 10%)
    "DatabaseConnectionFailure": "critical",  # critical: database connection failure
    "HighMemoryUsageCritical": "critical",  # critical: memory > 90%
    "DiskSpaceLow": "critical",  # critical: disk space < 10%
    "ApiErrorRateElevated": "warning",  # warning: error rate > 2%
    "ApiSlowResponses": "warning",  # warning: p95 > 1s
    "WorkerQueueDepthHigh": "warning",  # warning: queue depth > 500
    "HighCpuUsage": "warning",  # warning: CPU > 80%
}
#: alerts jobpulse adds to the seed's (marked in the spec): workers that never sent a heartbeat have no series for
#: WorkerOffline to see (issue 17), so too few heartbeating workers is an alert of its own
ADDED_ALERTS = {"WorkersMissing": "critical"}


def test_the_five_dashboards_have_the_seeds_panels_and_locations() -> None:
    spec = load_spec(SPEC)
    found = {d.uid: (d.title, [p.title for p in d.panels]) for d in spec.dashboards}
    assert found == SEED_DASHBOARDS


def test_the_seeds_alerts_with_severities() -> None:
    spec = load_spec(SPEC)
    assert {a.name: a.severity for a in spec.alerts} == SEED_ALERTS | ADDED_ALERTS


def test_every_alert_fires_in_one_test_and_stays_silent_in_another() -> None:
    spec = load_spec(SPEC)
    firing: set[str] = set()
    silent: set[str] = set()
    for test in spec.tests:
        for case in test.alert_rule_test:
            (firing if case.exp_alerts else silent).add(case.alertname)
    assert firing == silent == set(SEED_ALERTS) | set(ADDED_ALERTS)


def test_the_seeds_six_slos_are_in_the_spec() -> None:
    """Seed 004's SLO Configuration: targets, windows and thresholds as the seed's JSON gives them."""
    spec = load_spec(SPEC)
    got = {s.name: (str(s.objective), s.period, s.sli.kind, s.sli.latency_threshold) for s in spec.slos}
    assert got == {
        "api-availability": ("99.9", "30d", "events", None),
        "api-latency": ("95", "30d", "latency", 2.0),
        "api-error-rate": ("99.5", "30d", "events", None),
        "workers-availability": ("99.5", "30d", "events", None),
        "workers-processing-time": ("95", "30d", "latency", 300.0),
        "workers-queue-lag": ("99", "30d", "latency", 300.0),
    }
    assert {t.severity for s in spec.slos for t in s.tiers} == {"critical", "warning"}


# --- real Prometheus -------------------------------------------------------------------------------------
#: panels that may be empty on a short healthy run (no scheduled job has failed yet)
MAY_BE_EMPTY = {"Failed job reasons"}


@pytest.mark.integration
def test_every_panel_shows_data_from_real_prometheus(
    prometheus_bin: str, postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    import asyncio

    example = load_example(SPEC.parent)
    spec = load_spec(SPEC)
    build = compile_spec(spec)
    write_build(build, tmp_path / "build")
    app = example.create_app(
        registry=CollectorRegistry(),
        database_url=postgres_server.dsn,
        redis_url=redis_server.url,
        heartbeat_interval=0.5,
        health_interval=0.5,
        schedule_scale=0.05,
        sample_interval=0.5,
        rng=random.Random(3),
    )
    with serve(app) as base:
        stop = asyncio.Event()
        stats: dict[str, Any] = {}

        def traffic() -> None:
            async def run() -> None:
                task = asyncio.ensure_future(example.run_workload(base, stop=stop, rate_per_second=30, seed=2))
                while not done.is_set():
                    await asyncio.sleep(0.05)
                stop.set()
                stats["result"] = await task

            asyncio.run(run())

        done = threading.Event()
        driver = threading.Thread(target=traffic, daemon=True)
        driver.start()
        config = prometheus_config(
            scrape_configs=[scrape_config("platform", base.removeprefix("http://"), interval="1s")],
            evaluation_interval="1s",
        )
        prometheus = PrometheusServer(
            config=config,
            rule_files=[tmp_path / "build" / build.rule_file],
            workdir=tmp_path / "prometheus",
            binary=prometheus_bin,
        )
        prometheus.start()
        try:

            def answered(query: str) -> list[dict[str, Any]]:
                result = prometheus.query(query)
                return [r for r in result if r["value"][1] not in ("NaN", "+Inf", "-Inf")]

            empty: list[str] = []
            deadline = time.monotonic() + 45
            for dashboard in spec.dashboards:
                for panel in dashboard.panels:
                    if panel.title in MAY_BE_EMPTY:
                        continue
                    for target in panel.targets:
                        query = target.expr.replace("$__rate_interval", "15s")
                        try:
                            prometheus.wait_for(lambda q=query: answered(q), max(1.0, deadline - time.monotonic()), 0.5)
                        except TimeoutError:
                            empty.append(f"{dashboard.title} / {panel.title}: {query}")
            assert not empty, "panels without data:\n" + "\n".join(empty)
            groups = prometheus.rules()
            rules = [rule for group in groups for rule in group["rules"]]
            alerting = {rule["name"] for rule in rules if rule["type"] == "alerting"}
            slo_alerts = {s.alert_name for s in spec.slos}
            slo_alerts |= {s.unmeasurable_alert_name for s in spec.slos if s.sli.kind == "latency"}
            assert alerting == set(SEED_ALERTS) | set(ADDED_ALERTS) | slo_alerts
            assert all(rule["health"] in ("ok", "unknown") for rule in rules), rules
            firing = [a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"]
            assert firing == [], f"a healthy platform fires {firing}"
        finally:
            done.set()
            driver.join(15)
            prometheus.stop()
    assert stats["result"].server_errors == 0
