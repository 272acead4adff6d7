"""The VANTAGE AI platform of seed 004, instrumented only through jobpulse.

One process runs the three components the seed monitors, each as asyncio tasks:

- the **API** (Starlette): posts and AI generations, the health endpoints at the seed's paths
  (``/api/v1/health``, ``/api/v1/health/detailed``, ``/api/v1/health/ready``), the worker endpoints
  (``/api/v1/workers/health``, ``/api/v1/workers/{worker_id}/heartbeat``), the public status page
  (``/status``, ``/status/incidents``, ``/status/history``; incidents come from Alertmanager's webhook at
  ``/status/webhook/alertmanager``) and ``/metrics``;
- **workers** that publish posts and run (simulated) AI generations, each writing a heartbeat to Redis;
- a **scheduler** that puts recurring jobs (digest, cleanup, billing_sync) on the work queue.

Data lives in PostgreSQL (SQLAlchemy, psycopg driver), heartbeats in Redis. Give ``database_url`` and
``redis_url``; without them the app starts its own throw-away servers on loopback (needs the
``postgresql`` and ``redis-server`` packages). Every metric is declared in ``jobpulse.yaml`` beside this
file. Needs ``pip install 'jobpulse[starlette,redis,postgres,sqlalchemy]'`` plus ``greenlet`` (async
SQLAlchemy); ``pip install -e '.[dev]'`` has them all.

Run it with ``jobpulse demo platform`` (traffic, Prometheus, a live view) or on its own with
``uvicorn --factory examples.platform.app:create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jobpulse import Job, Telemetry
from jobpulse.integrations.postgres import PostgresCheck
from jobpulse.integrations.redis import RedisCheck
from jobpulse.integrations.sqlalchemy import instrument_engine
from jobpulse.runtime.health import HealthApp, HealthChecker
from jobpulse.runtime.heartbeat import Heartbeat, HeartbeatMonitor
from jobpulse.runtime.http import MetricsMiddleware
from jobpulse.status import StatusApp, StatusService
from jobpulse.verify.timescale import SpeedClock

__all__ = ["FAULT_SCENARIOS", "SPEC_PATH", "Faults", "Platform", "create_app"]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
API = "/api/v1"
HEALTH = API + "/health"
FAULT_SCENARIOS = (
    "healthy",
    "failure-spike",
    "api-errors",
    "slow",
    "stall",
    "scheduler-lag",
    "scheduler-failures",
    "scheduler-down",
    "db-down",
    "pool-exhaustion",
    "slow-queries",
    "memory-pressure",
    "cpu-hog",
    "disk-full",
)
#: probability that a job fails (healthy: inside the 99.5% workers-availability SLO), that a scheduled job fails,
#: and that an API request answers 503, per scenario (scenarios not listed: healthy's)
JOB_FAIL_RATE = {"failure-spike": 0.35}
#: scheduler-failures: every run of this schedule fails (the billing provider rejects the sync): about a quarter of
#: the scheduled runs, always the same share, so the success rate stays below 90% instead of wandering around it
FAILING_SCHEDULE = "billing_sync"
API_FAIL_RATE = {"api-errors": 0.15}
HEALTHY_JOB_FAIL_RATE = 0.002
#: scheduler-lag: every run is enqueued this late (the scheduler waits on a lock)
SCHEDULER_DELAY = 360.0
#: slow-queries: this many reporting queries run at a time, each taking this long (a missing index)
SLOW_QUERIES, SLOW_QUERY_SECONDS = 4, 1.5
#: memory-pressure and disk-full fill this share of the memory limit and of the data quota
PRESSURE = 0.92
#: the engine's pool, and the connections of it that pool-exhaustion keeps checked out (85%: three left to work with)
POOL_SIZE, POOL_OVERFLOW = 10, 10
LEAKED_CONNECTIONS = 17
#: cpu-hog: threads deriving keys in a loop keep the process between these many cores: above HighCpuUsage's 80% of
#: a core, and on a small machine a core is left for the database and the rest of the app. More threads run on a
#: busy machine, where each gets a small share of a core, at most CPU_HOG_MAX_THREADS; fewer as soon as it is less
#: busy (threads kept from a busy moment would take every core, and the app's event loop would fall behind its queue)
CPU_HOG_CORES, CPU_HOG_MAX_THREADS = (0.9, 1.2), 32
#: cpu-hog: PBKDF2 rounds a burner runs without the GIL (about 0.1 s of a core)
CPU_HOG_ROUNDS = 400_000
#: the burners' niceness: the database, Redis and the app's own event loop win the CPU when they need it (a hog at
#: the same priority starved them on a 2-core machine: heartbeats and queries seconds late)
CPU_HOG_NICE = 5
#: recurring jobs: name -> every N seconds (multiplied by ``schedule_scale``)
SCHEDULES = {"digest": 10.0, "cleanup": 15.0, "billing_sync": 20.0}
REVENUE_PER_GENERATION_USD = 0.05
ORG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
LOGGER = logging.getLogger("platform")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS posts (
        id bigserial PRIMARY KEY, org text NOT NULL, author text NOT NULL, body text NOT NULL,
        status text NOT NULL DEFAULT 'queued', created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz)""",
    "CREATE INDEX IF NOT EXISTS posts_org_created ON posts (org, created_at)",
    """CREATE TABLE IF NOT EXISTS generations (
        id bigserial PRIMARY KEY, org text NOT NULL, author text NOT NULL, prompt text NOT NULL,
        revenue_usd numeric NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX IF NOT EXISTS generations_org_created ON generations (org, created_at)",
)


class Faults:
    """How the platform misbehaves; change ``scenario`` at runtime to switch (``on_change`` callbacks then take
    a dependency down or bring it back: the database, the connection pool, memory, CPU, disk)."""

    def __init__(
        self,
        scenario: str = "healthy",
        *,
        time_scale: float = 1.0,
        rng: random.Random | None = None,
        clock: SpeedClock | None = None,
    ):
        self.on_change: list[Any] = []  # callables (old, new) run when the scenario changes
        self.scenario = scenario
        self.time_scale = time_scale
        self.rng = rng or random.Random()
        #: the app's time: simulated work sleeps on it and the metrics measure with it (tests run it faster)
        self.clock = clock or SpeedClock()

    @property
    def scenario(self) -> str:
        return self._scenario

    @scenario.setter
    def scenario(self, value: str) -> None:
        if value not in FAULT_SCENARIOS:
            raise ValueError(f"unknown fault scenario {value!r}; choose from {', '.join(FAULT_SCENARIOS)}")
        old = getattr(self, "_scenario", None)
        self._scenario = value
        for callback in list(self.on_change):
            callback(old, value)

    @property
    def stalled(self) -> bool:
        return self._scenario == "stall"

    def work_seconds(self, low: float, high: float) -> float:
        """Virtual seconds of simulated work (sleep them on ``clock``)."""
        return self.rng.uniform(low, high) * self.time_scale

    def job_fails(self, scheduled: bool = False) -> bool:
        """Whether a job fails; scheduled runs fail at the healthy rate (scheduler-failures fails one schedule)."""
        rate = HEALTHY_JOB_FAIL_RATE if scheduled else JOB_FAIL_RATE.get(self._scenario, HEALTHY_JOB_FAIL_RATE)
        return self.rng.random() < rate

    def api_fails(self) -> bool:
        return self.rng.random() < API_FAIL_RATE.get(self._scenario, 0.0)


class JobFailed(Exception):
    """A job failed (simulated, or its database work raised)."""


@dataclass
class WorkItem:
    id: str
    job_type: str
    payload: dict[str, Any]
    tracked: Job
    scheduled_at: float | None = None  # for scheduled jobs: when the scheduler meant it to run


@dataclass
class WorkerState:
    id: str
    heartbeat: Heartbeat
    processed: int = 0
    current: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Pressure:
    """What the resource scenarios hold while they last: leaked pool connections, a memory ballast, CPU burners, a
    file filling the data quota, a stopped database. ``changed`` may be called from any thread (the scenario
    setter); the work happens on the platform's event loop."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: list[Any] = []
        self.ballast: bytearray | None = None
        self.burn = threading.Event()
        self.burners: list[threading.Thread] = []
        self.burning = 0  # how many of the hog's burner threads run now; the others sleep (cpu-hog)
        self.database: Any = None  # the PostgresServer the app started, when it did (db-down stops it)
        self.reports: list[asyncio.Task[None]] = []
        self.lock = asyncio.Lock()
        #: the scenario whose resources are held now (the last change applied)
        self.applied = "healthy"

    def changed(self, old: str | None, new: str) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed() and old != new:
            loop.call_soon_threadsafe(lambda: loop.create_task(self.apply(old, new)))

    async def apply(self, old: str | None, new: str) -> None:
        async with self.lock:
            try:
                if old is not None:
                    await self._release(old)
                await self._take(new)
            except Exception:
                LOGGER.exception("scenario %s -> %s: the resources could not be switched", old, new)
                raise
            self.applied = new

    async def _take(self, scenario: str) -> None:
        platform = self.platform
        if scenario == "pool-exhaustion":
            for _ in range(LEAKED_CONNECTIONS):
                self.connections.append(await platform.engine.connect())
        elif scenario == "memory-pressure":
            wanted = int(PRESSURE * platform.memory_limit - _rss_bytes())
            size = max(0, min(wanted, 1 << 30))  # never more than 1 GiB, whatever the limit
            ballast = bytearray(size)
            ballast[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page: resident, not just reserved
            self.ballast = ballast
        elif scenario == "cpu-hog":
            self.burn.set()
            self.burners = [threading.Thread(target=self._hog, name="cpu-hog", daemon=True)]
            self.burners[0].start()
        elif scenario == "disk-full" and platform.disk_quota_bytes is not None:
            size, available = platform.disk_usage()
            fill = int(available - (1 - PRESSURE) * size)
            if fill > 0:
                await asyncio.to_thread(_fill, platform.data_dir / "ballast.bin", fill)
        elif scenario == "db-down" and self.database is not None:
            await asyncio.to_thread(self.database.shutdown)  # the data stays for the restart
        elif scenario == "slow-queries":
            self.reports = [asyncio.create_task(self._report(), name=f"slow-report-{n}") for n in range(SLOW_QUERIES)]

    async def _report(self) -> None:
        """A reporting query without its index: a slow statement, again and again, while slow-queries lasts."""
        while True:
            try:
                async with self.platform.engine.connect() as conn:
                    await conn.execute(
                        text("SELECT pg_sleep(:s), (SELECT count(*) FROM posts WHERE body LIKE '%report%')"),
                        {"s": SLOW_QUERY_SECONDS},
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)

    async def _release(self, scenario: str) -> None:
        if scenario == "pool-exhaustion":
            connections, self.connections = self.connections, []
            for conn in connections:
                with contextlib.suppress(Exception):
                    await conn.close()
        elif scenario == "memory-pressure":
            self.ballast = None
        elif scenario == "cpu-hog":
            self.burn.clear()
            for thread in self.burners:
                await asyncio.to_thread(thread.join, 5)
            self.burners = []
        elif scenario == "disk-full":
            (self.platform.data_dir / "ballast.bin").unlink(missing_ok=True)
        elif scenario == "db-down" and self.database is not None:
            await asyncio.to_thread(self.database.start)
        elif scenario == "slow-queries":
            reports, self.reports = self.reports, []
            for task in reports:
                task.cancel()
            await asyncio.gather(*reports, return_exceptions=True)

    def _hog(self) -> None:
        """Keep the process between CPU_HOG_CORES cores: every half second, burner threads are woken while it uses
        fewer (the further below, the more) and put to sleep while it uses more."""
        burners: list[threading.Thread] = []
        cores = 0.0
        try:
            while self.burn.is_set():
                self.burning = hog_burners(self.burning, cores)
                while len(burners) < self.burning:
                    n = len(burners)
                    burners.append(threading.Thread(target=self._burn, args=(n,), name=f"cpu-hog-{n}", daemon=True))
                    burners[-1].start()
                before, started = _cpu_seconds(), time.monotonic()
                time.sleep(0.5)
                cores = (_cpu_seconds() - before) / (time.monotonic() - started)
        finally:
            self.burning = 0
            for burner in burners:
                burner.join(5)

    def _burn(self, index: int) -> None:
        if sys.platform == "linux":  # this thread only (a thread id is a process id to setpriority on Linux)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CPU_HOG_NICE)
        while self.burn.is_set():
            if index >= self.burning:  # put to sleep: the process uses more than it needs
                time.sleep(0.1)
                continue
            # hashlib releases the GIL for the whole derivation (~0.1 s of CPU): a core each, the GIL taken back
            # about ten times a second (a sha256 of 16 MiB took ~9 ms: a hundred times), and no block to hold
            hashlib.pbkdf2_hmac("sha256", b"cpu-hog", b"salt", CPU_HOG_ROUNDS)


DEFAULT_QUOTA = 256 << 20


@contextlib.contextmanager
def _private_dir(prefix: str) -> Any:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


def _fill(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        os.posix_fallocate(file.fileno(), 0, size)


class Platform:
    """The workers, the scheduler and the sampler around one database engine and one work queue."""

    def __init__(
        self,
        telemetry: Telemetry,
        engine: AsyncEngine,
        *,
        redis_url: str,
        faults: Faults,
        workers: int = 2,
        heartbeat_interval: float = 5.0,
        scheduler_tick: float = 0.5,
        schedule_scale: float = 1.0,
        sample_interval: float = 2.0,
        memory_limit_bytes: int = 512 << 20,
        data_dir: Path | None = None,
        disk_quota_bytes: int | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.engine = engine
        self.redis_url = redis_url
        self.faults = faults
        self.clock = faults.clock
        self.tracker = telemetry.job("work", clock=self.clock.time)
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        # heartbeats and the scheduler's tick in the app's time: a 5 s beat stays 5 s whatever the clock's speed
        self.heartbeat_interval = max(0.05, self.clock.real(heartbeat_interval))
        self.scheduler_tick = max(0.02, min(scheduler_tick, self.clock.real(scheduler_tick)))
        self.schedules = {name: every * schedule_scale for name, every in SCHEDULES.items()}
        self.sample_interval = sample_interval
        self.memory_limit_bytes = memory_limit_bytes
        self.data_dir = data_dir or Path(tempfile.gettempdir())
        #: the data volume's quota: with one, the disk gauges are the quota and what the data directory holds
        self.disk_quota_bytes = disk_quota_bytes
        self.pressure = Pressure(self)
        self.workers = [self._worker_state(f"worker-{n}") for n in range(max(1, workers))]
        self._tasks: list[asyncio.Task[None]] = []
        self._cpu_seen = 0.0
        self._index_scans: dict[str, float] = {}
        m = telemetry.metric
        self.m_posts = m("platform_posts_published_total")
        self.m_generations = m("platform_ai_generations_total")
        self.m_revenue = m("platform_revenue_usd_total")
        self.m_scheduled = m("scheduler_jobs_scheduled_total")
        self.m_lag = m("scheduler_execution_lag_seconds")
        self.m_executions = m("scheduler_job_executions_total")
        self.m_failures = m("scheduler_job_failures_total")
        self.m_tick = m("scheduler_last_tick_timestamp_seconds")

    def _worker_state(self, worker_id: str) -> WorkerState:
        state: WorkerState

        def info() -> dict[str, Any]:
            return {"jobs_processed": state.processed, "current_job": state.current or ""}

        beat = Heartbeat(
            worker_id, url=self.redis_url, interval=self.heartbeat_interval, info=info, clock=self.clock.time
        )
        state = WorkerState(worker_id, beat)
        return state

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.pressure.loop = asyncio.get_running_loop()
        self.faults.on_change.append(self.pressure.changed)
        self.pressure.applied = "healthy"
        async with self.engine.begin() as conn:
            for statement in SCHEMA:
                await conn.execute(text(statement))
        self.m_tick.set(self.clock.time())
        for state in self.workers:
            state.tasks = [
                # remove=False: a worker that dies leaves its heartbeat to expire; stop() removes it
                asyncio.create_task(state.heartbeat.run(remove=False), name=f"{state.id}-heartbeat"),
                asyncio.create_task(self._work(state), name=state.id),
            ]
        self._tasks = [
            asyncio.create_task(self._schedule(), name="scheduler"),
            asyncio.create_task(self._sample(), name="sampler"),
        ]
        if self.faults.scenario != "healthy":  # started in a scenario (jobpulse demo --scenario): take its resources
            await self.pressure.apply("healthy", self.faults.scenario)
        LOGGER.info("platform started: %d workers, schedules %s", len(self.workers), self.schedules)

    async def stop(self) -> None:
        if self.pressure.changed in self.faults.on_change:
            self.faults.on_change.remove(self.pressure.changed)
        async with self.pressure.lock:
            await self.pressure._release(self.faults.scenario)  # connections back, ballast freed, database up
        tasks = self._tasks + [t for state in self.workers for t in state.tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=5.0)  # a shutdown never hangs on one task
            for task in stuck:
                LOGGER.warning("task %s did not stop within 5 s", task.get_name())
        self._tasks = []
        for state in self.workers:
            state.tasks = []
            await state.heartbeat.aremove()  # a clean shutdown: the workers leave the listing at once

    # -- API operations -------------------------------------------------------------------------------
    def enqueue(self, job_type: str, payload: dict[str, Any], scheduled_at: float | None = None) -> WorkItem:
        job_id = uuid.uuid4().hex
        item = WorkItem(job_id, job_type, payload, self.tracker.enqueue(job_id, job_type=job_type), scheduled_at)
        self.queue.put_nowait(item)
        return item

    async def create_post(self, org: str, author: str, body: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("INSERT INTO posts (org, author, body) VALUES (:org, :author, :body) RETURNING id"),
                {"org": org, "author": author, "body": body},
            )
            post_id = int(result.scalar_one())
        self.enqueue("publish_post", {"post_id": post_id})
        return post_id

    async def get_post(self, post_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT id, org, status, created_at, published_at FROM posts WHERE id = :id"), {"id": post_id}
                )
            ).first()
        if row is None:
            return None
        return {
            "post_id": row.id,
            "org": row.org,
            "status": row.status,
            "created_at": row.created_at.isoformat(),
            "published_at": row.published_at.isoformat() if row.published_at else None,
        }

    # -- workers ----------------------------------------------------------------------------------------
    async def _work(self, state: WorkerState) -> None:
        while True:
            if self.faults.stalled:
                # a stalled worker is a dead one: it stops processing and stops beating
                for task in state.tasks:
                    if task.get_name().endswith("-heartbeat"):
                        task.cancel()
                while self.faults.stalled:
                    await asyncio.sleep(0.05)
                state.tasks[0] = asyncio.create_task(state.heartbeat.run(remove=False), name=f"{state.id}-heartbeat")
            try:
                # asyncio.timeout, not wait_for: wait_for can swallow a cancellation on Python 3.11
                async with asyncio.timeout(0.2):
                    item = await self.queue.get()
            except TimeoutError:
                continue
            state.current = item.id
            try:
                await self._run(item)
            finally:
                state.current = None
                state.processed += 1

    async def _run(self, item: WorkItem) -> None:
        item.tracked.start()
        schedule = item.payload.get("schedule")
        if item.scheduled_at is not None and schedule:
            self.m_lag.observe(max(0.0, self.clock.time() - item.scheduled_at), schedule=schedule)
        try:
            await self._execute(item)
        except Exception as exc:
            item.tracked.fail(exc)
            if schedule:
                self.m_executions.inc(schedule=schedule, status="failure")
                self.m_failures.inc(schedule=schedule, reason=_reason(exc))
            LOGGER.warning("job %s (%s) failed: %s", item.id, item.job_type, type(exc).__name__)
            return
        item.tracked.succeed()
        if schedule:
            self.m_executions.inc(schedule=schedule, status="success")

    async def _execute(self, item: WorkItem) -> None:
        if item.job_type == "publish_post":
            await self.clock.sleep(self.faults.work_seconds(0.02, 0.1))
            if self.faults.job_fails():
                raise JobFailed("publishing failed (simulated)")
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE posts SET status = 'published', published_at = now() WHERE id = :id"),
                    {"id": item.payload["post_id"]},
                )
            self.m_posts.inc()
        elif item.job_type == "ai_generation":
            await self.clock.sleep(self.faults.work_seconds(0.05, 0.3))
            if self.faults.job_fails():
                raise JobFailed("the model provider failed (simulated)")
            async with self.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO generations (org, author, prompt, revenue_usd) "
                        "VALUES (:org, :author, :prompt, :revenue)"
                    ),
                    {**item.payload, "revenue": REVENUE_PER_GENERATION_USD},
                )
            self.m_generations.inc()
            self.m_revenue.inc(REVENUE_PER_GENERATION_USD)
        else:
            await self._scheduled(item.payload["schedule"])

    async def _scheduled(self, schedule: str) -> None:
        await self.clock.sleep(self.faults.work_seconds(0.01, 0.05))
        if self.faults.job_fails(scheduled=True):
            raise JobFailed(f"{schedule} failed (simulated)")
        if schedule == FAILING_SCHEDULE and self.faults.scenario == "scheduler-failures":
            raise JobFailed(f"{schedule} failed: the billing provider rejected the sync (simulated)")
        async with self.engine.begin() as conn:
            if schedule == "digest":
                await conn.execute(text("SELECT org, count(*) FROM posts GROUP BY org"))
            elif schedule == "cleanup":
                await conn.execute(text("DELETE FROM posts WHERE created_at < now() - interval '7 days'"))
            else:
                await conn.execute(text("SELECT coalesce(sum(revenue_usd), 0) FROM generations"))

    # -- scheduler --------------------------------------------------------------------------------------
    async def _schedule(self) -> None:
        now = self.clock.time()
        next_run = {name: now + every for name, every in self.schedules.items()}
        while True:
            scenario = self.faults.scenario
            if scenario == "scheduler-down":  # the scheduler loop is stuck: no tick, no runs
                await asyncio.sleep(self.scheduler_tick)
                continue
            now = self.clock.time()
            self.m_tick.set(now)
            # scheduler-lag: each run is enqueued SCHEDULER_DELAY after it was due
            late = SCHEDULER_DELAY if scenario == "scheduler-lag" else 0.0
            for name, due in next_run.items():
                if due + late <= now:
                    self.enqueue("scheduled", {"schedule": name}, scheduled_at=due)
                    self.m_scheduled.inc(schedule=name)
                    next_run[name] = due + self.schedules[name] if late else max(due + self.schedules[name], now)
            await asyncio.sleep(self.scheduler_tick)

    # -- sampled gauges ---------------------------------------------------------------------------------
    async def _sample(self) -> None:
        while True:
            try:
                self.sample_process()
                await self.sample_database()
            except Exception:  # a failed sample is skipped, never fatal
                LOGGER.debug("sampling failed", exc_info=True)
            await asyncio.sleep(self.sample_interval)

    @property
    def memory_limit(self) -> float:
        """The cgroup's memory limit, else the one the app was given (a container's, as deployed)."""
        return _memory_limit() or float(self.memory_limit_bytes)

    def disk_usage(self) -> tuple[float, float]:
        """(size, available) of the data volume: its quota and what the data directory holds, when it has one."""
        if self.disk_quota_bytes is None:
            usage = shutil.disk_usage(self.data_dir)
            return float(usage.total), float(usage.free)
        used = sum(p.stat().st_blocks * 512 for p in self.data_dir.rglob("*") if p.is_file())
        return float(self.disk_quota_bytes), float(max(0, self.disk_quota_bytes - used))

    def sample_process(self) -> None:
        m = self.telemetry.metric
        m("process_resident_memory_bytes").set(_rss_bytes())
        m("process_memory_limit_bytes").set(self.memory_limit)
        times = os.times()
        cpu = times.user + times.system
        if cpu > self._cpu_seen:
            m("process_cpu_seconds_total").inc(cpu - self._cpu_seen)
            self._cpu_seen = cpu
        size, available = self.disk_usage()
        m("platform_disk_available_bytes").set(available)
        m("platform_disk_size_bytes").set(size)

    async def sample_database(self) -> None:
        m = self.telemetry.metric
        async with self.engine.connect() as conn:
            size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
            scans = (
                await conn.execute(text("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes ORDER BY 1 LIMIT 50"))
            ).all()
            orgs = (
                await conn.execute(
                    text(
                        "SELECT count(DISTINCT org) FROM (SELECT org FROM posts WHERE created_at > now() - interval "
                        "'1 day' UNION SELECT org FROM generations WHERE created_at > now() - interval '1 day') a"
                    )
                )
            ).scalar_one()
            users = (
                await conn.execute(
                    text(
                        "SELECT count(DISTINCT author) FROM (SELECT author FROM posts WHERE created_at > now() - "
                        "interval '15 minutes' UNION SELECT author FROM generations WHERE created_at > now() - "
                        "interval '15 minutes') a"
                    )
                )
            ).scalar_one()
        m("db_size_bytes").set(float(size), db="main")
        for name, count in scans:
            previous = self._index_scans.get(name, 0.0)
            if count is not None and count > previous:
                m("db_index_scans_total").inc(float(count) - previous, index=name)
                self._index_scans[name] = float(count)
        m("platform_active_organizations").set(float(orgs))
        m("platform_active_users").set(float(users))


def hog_burners(burning: int, cores: float) -> int:
    """How many burner threads cpu-hog runs for the next half second, given how many ran (``burning``) and the cores
    the process used meanwhile: more while under CPU_HOG_CORES (the further below, the more: on a busy machine each
    gets a small share of a core), fewer while above, the same in between."""
    low, high = CPU_HOG_CORES
    if cores < low:
        return min(CPU_HOG_MAX_THREADS, burning + max(1, int((low - cores) / 0.15)))
    if cores > high:  # each burner has about cores / burning: keep as many as reach ``low``
        return max(1, min(burning - 1, int(burning * low / cores)))
    return burning


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, DBAPIError | OSError):
        return "dependency_unavailable"
    return "error"


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return float(pages * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        import resource

        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _memory_limit() -> float | None:
    """The cgroup v2 memory limit, when there is one."""
    try:
        raw = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return None
    return float(raw) if raw.isdigit() else None


# -- HTTP -------------------------------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _payload(request: Request, *fields: str) -> dict[str, str] | JSONResponse:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object")
    out: dict[str, str] = {}
    for name in fields:
        value = data.get(name)
        if not isinstance(value, str) or not value or len(value) > 2000:
            return _error(422, f"`{name}` must be a non-empty string of at most 2000 characters")
        out[name] = value
    if "org" in out and not ORG_PATTERN.match(out["org"]):
        return _error(422, "`org` must be 1-40 lower-case letters, digits or '-'")
    return out


def _db_url(url: str) -> tuple[str, str]:
    """(SQLAlchemy URL with the psycopg driver, plain libpq DSN) from either form."""
    plain = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    return plain.replace("postgresql://", "postgresql+psycopg://", 1), plain


def create_app(
    *,
    spec_path: Path = SPEC_PATH,
    registry: CollectorRegistry | None = None,
    scenario: str = "healthy",
    database_url: str | None = None,
    redis_url: str | None = None,
    workers: int = 2,
    heartbeat_interval: float = 5.0,
    health_interval: float = 5.0,
    schedule_scale: float = 1.0,
    sample_interval: float = 2.0,
    time_scale: float = 1.0,
    data_dir: Path | None = None,
    rng: random.Random | None = None,
    status_storage: str | Path | None = None,
    status_token: str | None = None,
    prometheus_url: str | None = None,
    clock: SpeedClock | None = None,
    memory_limit_bytes: int = 512 << 20,
    disk_quota_bytes: int | None = None,
) -> Starlette:
    """The platform app. ``app.state`` holds ``telemetry``, ``faults``, ``health``, ``status`` and (once started)
    ``platform``. Without ``database_url``/``redis_url`` the lifespan starts PostgreSQL/Redis itself.

    The status page keeps its incidents in ``status_storage`` (a SQLite file or a ``postgresql://`` URL; default:
    a throw-away file); Alertmanager's webhook and the operators' API need ``status_token`` (default:
    ``$JOBPULSE_STATUS_TOKEN``); SLO attainment is read from ``prometheus_url`` when given.

    ``clock`` is the app's time (``jobpulse demo --speed`` and the end-to-end tests run it faster); intervals are in
    its seconds. ``memory_limit_bytes`` is the memory limit when the cgroup sets none; the data volume is
    ``data_dir`` with ``disk_quota_bytes`` (none: the real volume's size), by default a private directory with a
    256 MiB quota. memory-pressure and disk-full fill them to 92%."""
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry() if registry is None else registry)
    faults = Faults(scenario, time_scale=time_scale, rng=rng, clock=clock)
    clock = faults.clock
    state: dict[str, Any] = {}

    def platform() -> Platform:
        current: Platform = state["platform"]
        return current

    def unavailable() -> JSONResponse | None:
        """api-errors: a share of API requests answer 503 (an overloaded dependency)."""
        return _error(503, "the service is overloaded (simulated)") if faults.api_fails() else None

    async def create_post(request: Request) -> JSONResponse:
        body = await _payload(request, "org", "author", "body")
        if isinstance(body, JSONResponse):
            return body
        if (failed := unavailable()) is not None:
            return failed
        post_id = await platform().create_post(body["org"], body["author"], body["body"])
        return JSONResponse({"post_id": post_id, "status": "queued"}, status_code=202)

    async def get_post(request: Request) -> JSONResponse:
        raw = request.path_params["post_id"]
        if not raw.isdigit() or len(raw) > 18:
            return _error(404, "unknown post")
        if (failed := unavailable()) is not None:
            return failed
        post = await platform().get_post(int(raw))
        return JSONResponse(post) if post else _error(404, "unknown post")

    async def create_generation(request: Request) -> JSONResponse:
        body = await _payload(request, "org", "author", "prompt")
        if isinstance(body, JSONResponse):
            return body
        if faults.scenario == "slow":
            # the model provider answers in 1.5-3.5 s: the API's p95 alerts fire. Real seconds, as the HTTP
            # middleware measures requests in real time whatever the app's clock
            await asyncio.sleep(faults.rng.uniform(1.5, 3.5))
        if (failed := unavailable()) is not None:
            return failed
        item = platform().enqueue("ai_generation", body)
        return JSONResponse({"job_id": item.id, "status": "queued"}, status_code=202)

    routes: list[Any] = [
        Route(API + "/posts", create_post, methods=["POST"]),
        Route(API + "/posts/{post_id}", get_post, methods=["GET"]),
        Route(API + "/generations", create_generation, methods=["POST"]),
        Route("/metrics", telemetry.metrics_app()),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            db_url, rd_url = database_url, redis_url
            database: Any = None  # the PostgresServer started here (db-down stops and starts it)
            if db_url is None or rd_url is None:
                from jobpulse.verify.datastores import PostgresServer, RedisServer

                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="platform-")))
                if db_url is None:
                    database = await asyncio.to_thread(
                        lambda: stack.enter_context(PostgresServer(workdir=workdir / "postgres"))
                    )
                    db_url = database.dsn
                if rd_url is None:
                    rd_url = await asyncio.to_thread(
                        lambda: stack.enter_context(RedisServer(workdir=workdir / "redis")).url
                    )
            sqlalchemy_url, dsn = _db_url(db_url)
            engine = create_async_engine(
                sqlalchemy_url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True
            )
            stack.push_async_callback(engine.dispose)
            instrument_engine(engine, db="main", telemetry=telemetry)
            checker = HealthChecker(
                [PostgresCheck("postgres", dsn=dsn, timeout=2.0), RedisCheck("redis", url=rd_url, timeout=1.0)],
                interval=refresh,
                registry=None,
                up_metric=telemetry["jobpulse_dependency_up"],
                duration_metric=telemetry["jobpulse_dependency_check_duration_seconds"],
            )
            monitor = HeartbeatMonitor(
                url=rd_url,
                registry=None,
                metric=telemetry["worker_last_heartbeat_timestamp_seconds"],
                # every worker the platform runs is expected: one that never beat is offline, not absent
                expected=[f"worker-{n}" for n in range(max(1, workers))],
                now=clock.time,
                cache_seconds=min(1.0, refresh),
            )
            health.checker, health.heartbeats = checker, monitor
            storage = status_storage
            if storage is None:
                storage = (
                    Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="platform-status-"))) / "status.db"
                )
            service = await asyncio.to_thread(
                StatusService,
                telemetry.spec,
                storage,
                checker=checker,
                heartbeats=monitor,
                prometheus_url=prometheus_url,
            )
            stack.callback(service.close)
            status.service = service
            current = Platform(
                telemetry,
                engine,
                redis_url=rd_url,
                faults=faults,
                workers=workers,
                heartbeat_interval=heartbeat_interval,
                schedule_scale=schedule_scale,
                sample_interval=sample_interval,
                data_dir=data_dir if data_dir is not None else stack.enter_context(_private_dir("platform-data-")),
                memory_limit_bytes=memory_limit_bytes,
                disk_quota_bytes=disk_quota_bytes if data_dir is not None else disk_quota_bytes or DEFAULT_QUOTA,
            )
            current.pressure.database = database
            state["platform"] = app.state.platform = current
            await current.start()
            stack.push_async_callback(current.stop)
            await health.start(interval=refresh)
            stack.push_async_callback(health.stop)
            # check/heartbeat outages go into the uptime bars; stopped before the checks and heartbeats close
            await service.start(interval=refresh)
            stack.push_async_callback(service.stop)
            yield

    # health checks and heartbeat listings every health_interval of the app's time (at least every 0.2 s)
    refresh = max(0.2, clock.real(health_interval))
    # the workers endpoint is ok with as many live workers as the status page's Workers component needs
    page = telemetry.spec.status_page
    min_workers = max((c.min_workers or 0 for c in page.components), default=1) if page is not None else 1
    health = HealthApp(None, service="platform", now=clock.time, min_workers=min_workers)
    routes[:0] = health.routes(HEALTH, workers_prefix=API + "/workers")
    # seed 004's public status page: /status, /status/incidents, /status/history (+ webhook, API, feed)
    status = StatusApp(
        None, page=telemetry.spec.status_page, token=status_token or os.environ.get("JOBPULSE_STATUS_TOKEN")
    )
    routes += status.routes()

    def http_metrics(app: Any) -> MetricsMiddleware:
        # request count, duration and in-flight requests under the spec's names; probes and scrapes are skipped
        return MetricsMiddleware.from_telemetry(
            app,
            telemetry,
            requests="http_requests_total",
            duration="http_request_duration_seconds",
            in_progress="http_active_connections",
            skip_paths=("/metrics", HEALTH, HEALTH + "/*", API + "/workers/*"),
        )

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL down or the pool exhausted: a 503 and one log line, not a traceback per request
        LOGGER.warning("%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__)
        return _error(503, "the database is unavailable")

    unavailable_errors: dict[Any, Any] = dict.fromkeys(
        (OperationalError, InterfaceError, PoolTimeoutError), database_unavailable
    )
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(http_metrics)], exception_handlers=unavailable_errors
    )
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.faults = faults
    app.state.health = health
    app.state.status = status
    return app
