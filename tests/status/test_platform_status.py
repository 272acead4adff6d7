"""The platform example (seed 004) serves every endpoint the seed lists, at the seed's paths, with its status page
tied to the real health checks and heartbeats (PostgreSQL and Redis on loopback)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from jobpulse.demo.example import Example, load_example
from jobpulse.verify.datastores import PostgresServer, RedisServer
from jobpulse.verify.servers import wait_for
from tests.datastores_fixtures import serve
from tests.helpers import ROOT
from tests.status.helpers import TOKEN, alert, payload

pytestmark = pytest.mark.integration

#: seed 004, "Health Endpoints": every path it lists
SEED_ENDPOINTS = (
    "/api/v1/health",
    "/api/v1/health/detailed",
    "/api/v1/health/ready",
    "/api/v1/workers/health",
    "/api/v1/workers/{worker_id}/heartbeat",
    "/status",
    "/status/incidents",
    "/status/history",
)


@pytest.fixture(scope="module")
def example() -> Example:
    return load_example(ROOT / "examples" / "platform")


@pytest.fixture
def platform(
    example: Example, postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[str, Any]]:
    app = example.create_app(
        registry=CollectorRegistry(),
        database_url=postgres_server.dsn,
        redis_url=redis_server.url,
        heartbeat_interval=0.2,
        health_interval=0.3,
        schedule_scale=0.05,
        sample_interval=0.2,
        rng=random.Random(4),
        status_storage=tmp_path / "status.db",
        status_token=TOKEN,
    )
    with serve(app) as base:
        yield base, app


def test_every_seed_endpoint_answers_at_the_seeds_path(platform: tuple[str, Any]) -> None:
    base, _ = platform
    with httpx.Client(base_url=base, timeout=10) as http:
        # both workers heartbeating (a loaded machine may take a moment to start them)
        workers = wait_for(
            lambda: (doc := http.get("/api/v1/workers/health").json())["count"] == 2 and doc["workers"], timeout=30
        )
        for path in SEED_ENDPOINTS:
            response = http.get(path.replace("{worker_id}", workers[0]["worker"]))
            assert response.status_code == 200, (path, response.text)
        assert "text/html" in http.get("/status").headers["content-type"]
        components = http.get("/status/api/v2/summary.json").json()["components"]
        assert [c["id"] for c in components] == ["api", "workers", "scheduler", "database"]
        wait_for(
            lambda: (
                {c["status"] for c in http.get("/status/api/v2/summary.json").json()["components"]} == {"operational"}
            ),
            timeout=30,
        )
        readme = (ROOT / "examples" / "platform" / "README.md").read_text()
        for path in SEED_ENDPOINTS:
            assert f"`GET {path}`" in readme, path


def test_alerts_and_heartbeats_change_the_components(platform: tuple[str, Any]) -> None:
    base, app = platform
    with httpx.Client(base_url=base, timeout=10) as http:

        def statuses() -> dict[str, str]:
            return {c["id"]: c["status"] for c in http.get("/status/api/v2/components.json").json()["components"]}

        wait_for(lambda: http.get("/api/v1/workers/health").json()["count"] == 2, timeout=15)
        hook = http.post(
            "/status/webhook/alertmanager",
            json=payload(
                alert("WorkerHighJobFailureRate", severity="warning"),
                group_key='{}:{alertname="WorkerHighJobFailureRate"}',
            ),
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert hook.json()["action"] == "opened"
        assert statuses()["workers"] == "degraded_performance"
        # workers stop heartbeating: fewer than the 2 the page expects, then none -> a major outage
        app.state.faults.scenario = "stall"
        wait_for(lambda: statuses()["workers"] == "major_outage", timeout=15)
        assert "0 of at least 2 workers are sending heartbeats" in http.get("/status").text
        app.state.faults.scenario = "healthy"
        wait_for(lambda: statuses()["workers"] == "degraded_performance", timeout=15)
        started = time.monotonic()
        resolved = payload({**alert("WorkerHighJobFailureRate", severity="warning"), "status": "resolved"},
                           group_key="{}:{alertname=\"WorkerHighJobFailureRate\"}")  # fmt: skip
        assert (
            http.post(
                "/status/webhook/alertmanager", json=resolved, headers={"authorization": f"Bearer {TOKEN}"}
            ).json()["action"]
            == "resolved"
        )
        assert statuses()["workers"] == "operational" and time.monotonic() - started < 5
