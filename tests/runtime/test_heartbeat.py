"""Worker heartbeats against a real Redis: listing, expiry, clean shutdown, outages, the bounded metric."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from jobpulse.runtime.health import HealthApp
from jobpulse.runtime.heartbeat import Heartbeat, HeartbeatMonitor, valid_worker_id
from jobpulse.verify.datastores import RedisServer
from jobpulse.verify.servers import free_port
from tests.datastores_fixtures import DATASTORE_PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")  # type: ignore[arg-type]


async def listed(http: httpx.AsyncClient, path: str = "/health/workers") -> list[str]:
    """The live workers; with none the endpoint says ``down`` with a 503, never ``ok``."""
    response = await http.get(path)
    body = response.json()
    workers = [w["worker"] for w in body["workers"]]
    assert (response.status_code, body["status"]) == ((200, "ok") if workers else (503, "down")), response.text
    return workers


async def test_expired_heartbeat_disappears_from_workers(redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    monitor = HeartbeatMonitor(url=redis_server.url, registry=registry, cache_seconds=0)
    app = HealthApp(heartbeats=monitor)
    steady = Heartbeat("worker-steady", url=redis_server.url, interval=0.1, ttl=0.6, info={"queue": "default"})
    silent = Heartbeat("worker-silent", url=redis_server.url, interval=0.1, ttl=0.6)
    with steady, silent:
        await asyncio.sleep(0.25)
        async with client(app) as http:
            assert sorted(await listed(http)) == ["worker-silent", "worker-steady"]
            one = (await http.get("/health/workers/worker-steady")).json()
            assert one["status"] == "alive" and one["info"] == {"queue": "default"}
            assert 0 <= one["age_seconds"] < 0.5 and 0 < one["expires_in_seconds"] <= 0.6
            silent.stop(remove=False)  # the worker dies without cleaning up: only the TTL removes it
            metric = "worker_last_heartbeat_timestamp_seconds"
            last_beat = registry.get_sample_value(metric, {"worker": "worker-silent"})
            assert last_beat is not None and abs(last_beat - time.time()) < 1.0
            deadline = time.monotonic() + 2.0
            while "worker-silent" in await listed(http):
                assert time.monotonic() < deadline, "expired heartbeat still listed"
                await asyncio.sleep(0.05)
            assert await listed(http) == ["worker-steady"]
            assert (await http.get("/health/workers/worker-silent")).status_code == 404
            # the gauge keeps the last beat, so `time() - worker_last_heartbeat_timestamp_seconds` grows
            kept = registry.get_sample_value(metric, {"worker": "worker-silent"})
            assert kept is not None and kept <= last_beat + 0.2
            fresh = registry.get_sample_value(metric, {"worker": "worker-steady"})
            assert fresh is not None and fresh > kept
    await monitor.aclose()


async def test_clean_stop_removes_the_worker_at_once(redis_server: RedisServer) -> None:
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    app = HealthApp(heartbeats=monitor)
    beat = Heartbeat("w1", url=redis_server.url, interval=5, ttl=60).start()
    async with client(app) as http:
        for _ in range(50):
            if await listed(http) == ["w1"]:
                break
            await asyncio.sleep(0.02)
        assert await listed(http) == ["w1"]
        beat.stop()
        assert await listed(http) == []
    await monitor.aclose()


async def test_asyncio_heartbeat_task(redis_server: RedisServer) -> None:
    jobs = 0
    beat = Heartbeat("async-1", url=redis_server.url, interval=0.05, info=lambda: {"jobs_processed": jobs})
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    task = asyncio.create_task(beat.run())
    try:
        await asyncio.sleep(0.1)
        jobs = 7
        await asyncio.sleep(0.1)
        (worker,) = await monitor.workers()
        assert worker.worker == "async-1" and worker.info == {"jobs_processed": 7}
        assert beat.beats >= 3 and beat.failures == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await monitor.workers() == []  # a cancelled task deletes its key on the way out
    await monitor.aclose()


async def test_redis_outage_never_raises_into_the_worker(redis_server: RedisServer) -> None:
    beat = Heartbeat("w-outage", url=redis_server.url, interval=0.05, ttl=5)
    assert beat.beat() is True
    redis_server.kill()
    assert beat.beat() is False
    assert await beat.abeat() is False
    assert beat.failures == 2
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    async with client(HealthApp(heartbeats=monitor)) as http:
        response = await http.get("/health/workers")
        assert response.status_code == 503
        assert DATASTORE_PASSWORD not in response.text and "redis://" not in response.text
        redis_server.start()
        assert beat.beat() is True  # the same Heartbeat recovers once Redis is back
        assert await listed(http) == ["w-outage"]
    beat.stop()
    await monitor.aclose()


async def test_worker_label_is_bounded(redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    monitor = HeartbeatMonitor(url=redis_server.url, registry=registry, max_workers=3, cache_seconds=0)
    beats = [Heartbeat(f"pod-{n}", url=redis_server.url, interval=10) for n in range(6)]
    for beat in beats:
        assert beat.beat()
    assert len(await monitor.workers()) == 6  # the listing shows every worker
    names = {
        sample.labels["worker"]
        for metric in registry.collect()
        if metric.name == "worker_last_heartbeat_timestamp_seconds"
        for sample in metric.samples
    }
    assert len(names) == 4 and "__other__" in names  # but the metric keeps 3 + __other__
    for beat in beats:
        beat.stop()
    await monitor.aclose()


async def test_hostile_worker_ids_are_refused(redis_server: RedisServer) -> None:
    for bad in ("", "a b", "x" * 200, "evil\r\nheader", "../../etc", "{json}"):
        assert not valid_worker_id(bad)
        with pytest.raises(ValueError, match="worker id"):
            Heartbeat(bad, url=redis_server.url)
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None)
    app = Starlette(routes=HealthApp(heartbeats=monitor).routes("/api/v1/health", workers_prefix="/api/v1/workers"))
    async with client(app) as http:
        response = await http.get("/api/v1/workers/%0d%0aSet-Cookie:x/heartbeat")
        assert response.status_code == 404 and "Set-Cookie" not in response.text
        assert (await http.get("/api/v1/workers/health")).json()["count"] == 0
    await monitor.aclose()


async def test_expected_workers_are_offline_until_they_beat(redis_server: RedisServer) -> None:
    """Issue 17: workers that stall before their first heartbeat have no series, so no alert sees them and the
    endpoint said ``ok`` with zero workers. An expected worker is in the gauge from the monitor's start (at that
    time: as old as a worker that stopped then), and the endpoint is ``ok`` only when every expected one beats."""
    registry = CollectorRegistry()
    metric = "worker_last_heartbeat_timestamp_seconds"
    before = time.time()
    monitor = HeartbeatMonitor(url=redis_server.url, registry=registry, cache_seconds=0, expected=["w1", "w2"])
    for worker in ("w1", "w2"):  # before any listing: the series exist, at the monitor's start
        assert registry.get_sample_value(metric, {"worker": worker}) == monitor.since >= before
    async with client(HealthApp(heartbeats=monitor)) as http:
        response = await http.get("/health/workers")
        assert response.status_code == 503
        assert response.json() == {"status": "down", "count": 0, "expected": 2, "missing": ["w1", "w2"], "workers": []}
        with Heartbeat("w1", url=redis_server.url, interval=0.1, ttl=5):
            await asyncio.sleep(0.15)
            body = (await http.get("/health/workers")).json()
            assert (body["status"], body["count"], body["missing"]) == ("degraded", 1, ["w2"])
            w1 = registry.get_sample_value(metric, {"worker": "w1"})
            assert w1 is not None and w1 > monitor.since
            with Heartbeat("w2", url=redis_server.url, interval=0.1, ttl=5):
                await asyncio.sleep(0.15)
                response = await http.get("/health/workers")
                assert response.status_code == 200
                assert (response.json()["status"], response.json()["missing"]) == ("ok", [])
    # the gauge of a worker that never beat stays at the monitor's start: time() - it grows past any threshold
    registry2 = CollectorRegistry()
    monitor2 = HeartbeatMonitor(url=redis_server.url, registry=registry2, expected=["never"])
    await monitor2.workers()
    assert registry2.get_sample_value(metric, {"worker": "never"}) == monitor2.since
    with pytest.raises(ValueError, match="expected worker ids"):
        HeartbeatMonitor(url=redis_server.url, registry=None, expected=["ok", "evil\r\nid"])
    await monitor.aclose()
    await monitor2.aclose()


async def test_fewer_workers_than_the_minimum_is_degraded(redis_server: RedisServer) -> None:
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    async with client(HealthApp(heartbeats=monitor, min_workers=2)) as http:
        with Heartbeat("only", url=redis_server.url, interval=0.1, ttl=5):
            await asyncio.sleep(0.15)
            response = await http.get("/health/workers")
            assert response.status_code == 200
            assert response.json()["status"] == "degraded" and response.json()["expected"] == 2
    async with client(HealthApp(heartbeats=monitor, min_workers=0)) as http:
        response = await http.get("/health/workers")  # nobody expects workers here: none is fine
        assert (response.status_code, response.json()["status"]) == (200, "ok")
    with pytest.raises(ValueError, match="min_workers"):
        HealthApp(heartbeats=monitor, min_workers=-1)
    await monitor.aclose()


async def test_a_hanging_check_does_not_hold_back_the_heartbeat_gauge(redis_server: RedisServer) -> None:
    """The background refresh lists heartbeats on its own cadence: a database check that hangs until its timeout
    (a database going down) would otherwise freeze the gauge, and the workers would look silent."""
    from jobpulse.runtime.health import CallableCheck, HealthChecker

    async def hangs() -> bool:
        await asyncio.sleep(1.5)
        return True

    registry = CollectorRegistry()
    metric = "worker_last_heartbeat_timestamp_seconds"
    monitor = HeartbeatMonitor(url=redis_server.url, registry=registry, cache_seconds=0)
    checker = HealthChecker([CallableCheck("db", hangs, timeout=2.0)], interval=0, registry=None)
    health = HealthApp(checker, heartbeats=monitor)
    with Heartbeat("steady", url=redis_server.url, interval=0.05, ttl=5):
        await health.start(interval=0.05)
        try:
            await asyncio.sleep(0.3)
            seen = registry.get_sample_value(metric, {"worker": "steady"})
            await asyncio.sleep(0.6)  # the check is still hanging
            later = registry.get_sample_value(metric, {"worker": "steady"})
            assert seen is not None and later is not None and later - seen >= 0.3
        finally:
            await health.stop()


def test_ttl_must_exceed_interval() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ValueError, match="ttl must be longer"):
        Heartbeat("w", url=url, interval=10, ttl=5)


async def test_a_task_without_remove_leaves_the_key_to_expire(redis_server: RedisServer) -> None:
    beat = Heartbeat("dies", url=redis_server.url, interval=0.05, ttl=5)
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    task = asyncio.create_task(beat.run(remove=False))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [w.worker for w in await monitor.workers()] == ["dies"]  # as after a crash: the TTL decides
    assert await beat.aremove() is True
    assert await monitor.workers() == []
    await monitor.aclose()


async def test_worker_info_is_redacted_on_the_workers_endpoints(redis_server: RedisServer) -> None:
    """A worker's published info is shown to whoever reads the workers list: secrets in it are redacted."""
    monitor = HeartbeatMonitor(url=redis_server.url, registry=None, cache_seconds=0)
    app = HealthApp(heartbeats=monitor)
    info = {"queue": "default", "broker": "redis://:hunter2pw@cache:6379/0", "apiToken": "tok-plain-1"}
    with Heartbeat("w-info", url=redis_server.url, interval=0.05, info=info):
        async with client(app) as http:
            for _ in range(50):
                if await listed(http) == ["w-info"]:
                    break
                await asyncio.sleep(0.02)
            listing = (await http.get("/health/workers")).text
            one = (await http.get("/health/workers/w-info")).json()
    await monitor.aclose()
    for text in (listing, str(one)):
        assert "hunter2pw" not in text and "tok-plain-1" not in text
    assert one["info"]["queue"] == "default" and one["info"]["apiToken"] == "[REDACTED]"
