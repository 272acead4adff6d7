"""Health checks against real Redis and PostgreSQL servers, served by a real uvicorn server.

Kill Redis: readiness turns 503 within one check interval while liveness, /metrics and ordinary
requests keep answering; restart it: readiness recovers. Detailed health never shows a DSN or password.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jobpulse.integrations.postgres import PostgresCheck
from jobpulse.integrations.redis import RedisCheck
from jobpulse.runtime.exposition import MetricsApp
from jobpulse.runtime.health import CallableCheck, HealthApp, HealthChecker
from jobpulse.verify.datastores import PostgresServer, RedisServer
from jobpulse.verify.servers import free_port
from tests.datastores_fixtures import DATASTORE_PASSWORD, serve

pytestmark = pytest.mark.integration

INTERVAL = 1.0
TIMEOUT = 0.5


def platform_app(health: HealthApp, registry: CollectorRegistry) -> Starlette:
    async def work(request: Request) -> JSONResponse:
        return JSONResponse({"done": True})

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await health.stop()

    routes = [
        *health.routes("/api/v1/health"),
        Route("/api/v1/work", work),
        Route("/metrics", MetricsApp(registry)),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def dependency_up(http: httpx.Client, dependency: str) -> float | None:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'jobpulse_dependency_up{{dependency="{dependency}"}}'):
            return float(line.split()[-1])
    return None


def test_redis_outage_fails_readiness_only_and_recovers(redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    checker = HealthChecker(
        [RedisCheck(url=redis_server.url, timeout=TIMEOUT), CallableCheck("config", lambda: True)],
        interval=INTERVAL,
        registry=registry,
    )
    app = platform_app(HealthApp(checker), registry)
    with serve(app) as base, httpx.Client(base_url=base, timeout=5, trust_env=False) as http:
        assert http.get("/api/v1/health/ready").status_code == 200
        assert dependency_up(http, "redis") == 1.0

        redis_server.kill()
        killed_at = time.monotonic()
        # within one interval (plus the check's own timeout) readiness must fail
        while http.get("/api/v1/health/ready").status_code != 503:
            assert time.monotonic() - killed_at < INTERVAL + TIMEOUT + 0.5, "readiness still 200 after the outage"
            time.sleep(0.05)
        assert time.monotonic() - killed_at <= INTERVAL + TIMEOUT + 0.5
        ready = http.get("/api/v1/health/ready").json()
        assert ready["status"] == "not_ready" and ready["failing"] == ["redis"]
        # liveness, metrics and ordinary requests keep answering during the outage
        for _ in range(5):
            assert http.get("/api/v1/health").status_code == 200
            assert http.get("/api/v1/work").json() == {"done": True}
        assert dependency_up(http, "redis") == 0.0
        detailed = http.get("/api/v1/health/detailed")
        assert detailed.status_code == 503
        redis_detail = detailed.json()["dependencies"]["redis"]
        assert redis_detail["status"] == "down" and redis_detail["message"]
        assert DATASTORE_PASSWORD not in detailed.text and "redis://" not in detailed.text

        redis_server.start()
        restarted_at = time.monotonic()
        while http.get("/api/v1/health/ready").status_code != 200:
            assert time.monotonic() - restarted_at < INTERVAL + TIMEOUT + 0.5, "readiness did not recover"
            time.sleep(0.05)
        assert dependency_up(http, "redis") == 1.0


def test_concurrent_probes_send_one_ping_per_interval(redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    checker = HealthChecker([RedisCheck(url=redis_server.url, timeout=TIMEOUT)], interval=30, registry=registry)
    app = platform_app(HealthApp(checker), registry)
    admin = redis.Redis.from_url(redis_server.url)

    def pings() -> int:
        stats = admin.info("commandstats").get("cmdstat_ping", {"calls": 0})
        return int(stats["calls"])

    try:
        before = pings()

        async def burst(base: str) -> list[int]:
            async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as http:
                paths = ["/api/v1/health/ready", "/api/v1/health/detailed"] * 50
                responses = await asyncio.gather(*(http.get(p) for p in paths))
                return [r.status_code for r in responses]

        with serve(app) as base:
            codes = asyncio.run(burst(base))
        assert set(codes) == {200} and len(codes) == 100
        assert pings() - before == 1
        assert checker.runs == 1
    finally:
        admin.close()


def test_detailed_health_never_leaks_a_dsn_or_password(
    postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    good_dsn = postgres_server.dsn
    assert DATASTORE_PASSWORD in good_dsn
    wrong_password = good_dsn.replace(DATASTORE_PASSWORD, DATASTORE_PASSWORD + "-wrong")
    wrong_port = good_dsn.replace(f":{postgres_server.port}/", f":{free_port()}/")
    redis_down_url = redis_server.url.replace(f":{redis_server.port}/", f":{free_port()}/")
    checker = HealthChecker(
        [
            PostgresCheck("postgres", dsn=good_dsn, timeout=3),
            PostgresCheck("postgres_bad_auth", dsn=wrong_password, critical=False, timeout=3),
            PostgresCheck("postgres_down", dsn=wrong_port, critical=False, timeout=3),
            RedisCheck("redis_down", url=redis_down_url, critical=False, timeout=TIMEOUT),
            RedisCheck("redis", url=redis_server.url, timeout=TIMEOUT),
        ],
        interval=0,
        registry=None,
    )
    app = platform_app(HealthApp(checker), CollectorRegistry())
    with serve(app) as base, httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        response = http.get("/api/v1/health/detailed")
        text = response.text
        for leak in (DATASTORE_PASSWORD, good_dsn, "postgresql://", "redis://", "password=", "pw-Sup3r"):
            assert leak not in text, f"{leak!r} leaked into detailed health: {text}"
        assert response.status_code == 200  # only non-critical dependencies are down
        deps = response.json()["dependencies"]
        assert deps["postgres"]["status"] == "up" and deps["redis"]["status"] == "up"
        assert deps["postgres_bad_auth"]["status"] == "down"
        assert "authentication failed" in deps["postgres_bad_auth"]["message"]
        assert deps["postgres_down"]["status"] == "down" and deps["redis_down"]["status"] == "down"
        assert response.json()["status"] == "degraded"
        for path in ("/api/v1/health/ready", "/api/v1/health"):
            assert DATASTORE_PASSWORD not in http.get(path).text
