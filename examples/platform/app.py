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
import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
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

__all__ = ["FAULT_SCENARIOS", "SPEC_PATH", "Faults", "Platform", "create_app"]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
API = "/api/v1"
HEALTH = API + "/health"
FAULT_SCENARIOS = ("healthy", "failure-spike", "slow", "stall")
#: probability that a job fails / that an AI generation request fails upstream, per scenario (healthy: inside the
#: 99.5% workers-availability SLO)
JOB_FAIL_RATE = {"healthy": 0.002, "failure-spike": 0.35, "slow": 0.002, "stall": 0.002}
API_FAIL_RATE = {"healthy": 0.0, "failure-spike": 0.15, "slow": 0.0, "stall": 0.0}
SLOWDOWN = {"slow": 10.0}
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
    """How the platform misbehaves; change ``scenario`` at runtime to switch."""

    def __init__(self, scenario: str = "healthy", *, time_scale: float = 1.0, rng: random.Random | None = None):
        self.scenario = scenario
        self.time_scale = time_scale
        self.rng = rng or random.Random()

    @property
    def scenario(self) -> str:
        return self._scenario

    @scenario.setter
    def scenario(self, value: str) -> None:
        if value not in FAULT_SCENARIOS:
            raise ValueError(f"unknown fault scenario {value!r}; choose from {', '.join(FAULT_SCENARIOS)}")
        self._scenario = value

    @property
    def stalled(self) -> bool:
        return self._scenario == "stall"

    def work_seconds(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high) * SLOWDOWN.get(self._scenario, 1.0) * self.time_scale

    def job_fails(self) -> bool:
        return self.rng.random() < JOB_FAIL_RATE[self._scenario]

    def api_fails(self) -> bool:
        return self.rng.random() < API_FAIL_RATE[self._scenario]


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
        memory_limit_bytes: int = 1 << 30,
        data_dir: Path | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.engine = engine
        self.redis_url = redis_url
        self.faults = faults
        self.tracker = telemetry.job("work")
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        self.heartbeat_interval = heartbeat_interval
        self.scheduler_tick = scheduler_tick
        self.schedules = {name: every * schedule_scale for name, every in SCHEDULES.items()}
        self.sample_interval = sample_interval
        self.memory_limit_bytes = memory_limit_bytes
        self.data_dir = data_dir or Path(tempfile.gettempdir())
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

        beat = Heartbeat(worker_id, url=self.redis_url, interval=self.heartbeat_interval, info=info)
        state = WorkerState(worker_id, beat)
        return state

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        async with self.engine.begin() as conn:
            for statement in SCHEMA:
                await conn.execute(text(statement))
        self.m_tick.set(time.time())
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
        LOGGER.info("platform started: %d workers, schedules %s", len(self.workers), self.schedules)

    async def stop(self) -> None:
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
            self.m_lag.observe(max(0.0, time.time() - item.scheduled_at), schedule=schedule)
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
            await asyncio.sleep(self.faults.work_seconds(0.02, 0.1))
            if self.faults.job_fails():
                raise JobFailed("publishing failed (simulated)")
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE posts SET status = 'published', published_at = now() WHERE id = :id"),
                    {"id": item.payload["post_id"]},
                )
            self.m_posts.inc()
        elif item.job_type == "ai_generation":
            await asyncio.sleep(self.faults.work_seconds(0.05, 0.3))
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
        await asyncio.sleep(self.faults.work_seconds(0.01, 0.05))
        if self.faults.job_fails():
            raise JobFailed(f"{schedule} failed (simulated)")
        async with self.engine.begin() as conn:
            if schedule == "digest":
                await conn.execute(text("SELECT org, count(*) FROM posts GROUP BY org"))
            elif schedule == "cleanup":
                await conn.execute(text("DELETE FROM posts WHERE created_at < now() - interval '7 days'"))
            else:
                await conn.execute(text("SELECT coalesce(sum(revenue_usd), 0) FROM generations"))

    # -- scheduler --------------------------------------------------------------------------------------
    async def _schedule(self) -> None:
        now = time.time()
        next_run = {name: now + every for name, every in self.schedules.items()}
        while True:
            now = time.time()
            self.m_tick.set(now)
            for name, due in next_run.items():
                if due <= now:
                    self.enqueue("scheduled", {"schedule": name}, scheduled_at=due)
                    self.m_scheduled.inc(schedule=name)
                    next_run[name] = max(due + self.schedules[name], now)
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

    def sample_process(self) -> None:
        m = self.telemetry.metric
        m("process_resident_memory_bytes").set(_rss_bytes())
        m("process_memory_limit_bytes").set(_memory_limit() or self.memory_limit_bytes)
        times = os.times()
        cpu = times.user + times.system
        if cpu > self._cpu_seen:
            m("process_cpu_seconds_total").inc(cpu - self._cpu_seen)
            self._cpu_seen = cpu
        usage = shutil.disk_usage(self.data_dir)
        m("platform_disk_available_bytes").set(usage.free)
        m("platform_disk_size_bytes").set(usage.total)

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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, DBAPIError | OSError):
        return "dependency_unavailable"
    return "error"


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
) -> Starlette:
    """The platform app. ``app.state`` holds ``telemetry``, ``faults``, ``health``, ``status`` and (once started)
    ``platform``. Without ``database_url``/``redis_url`` the lifespan starts PostgreSQL/Redis itself.

    The status page keeps its incidents in ``status_storage`` (a SQLite file or a ``postgresql://`` URL; default:
    a throw-away file); Alertmanager's webhook and the operators' API need ``status_token`` (default:
    ``$JOBPULSE_STATUS_TOKEN``); SLO attainment is read from ``prometheus_url`` when given."""
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry() if registry is None else registry)
    faults = Faults(scenario, time_scale=time_scale, rng=rng)
    state: dict[str, Any] = {}

    def platform() -> Platform:
        current: Platform = state["platform"]
        return current

    async def create_post(request: Request) -> JSONResponse:
        body = await _payload(request, "org", "author", "body")
        if isinstance(body, JSONResponse):
            return body
        post_id = await platform().create_post(body["org"], body["author"], body["body"])
        return JSONResponse({"post_id": post_id, "status": "queued"}, status_code=202)

    async def get_post(request: Request) -> JSONResponse:
        raw = request.path_params["post_id"]
        if not raw.isdigit() or len(raw) > 18:
            return _error(404, "unknown post")
        post = await platform().get_post(int(raw))
        return JSONResponse(post) if post else _error(404, "unknown post")

    async def create_generation(request: Request) -> JSONResponse:
        body = await _payload(request, "org", "author", "prompt")
        if isinstance(body, JSONResponse):
            return body
        if faults.scenario == "slow":
            await asyncio.sleep(faults.work_seconds(0.1, 0.3))  # 1-3 s: the API's p95 alerts fire
        if faults.api_fails():
            return _error(502, "the model provider is unavailable (simulated)")
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
            if db_url is None or rd_url is None:
                from jobpulse.verify.datastores import PostgresServer, RedisServer

                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="platform-")))
                if db_url is None:
                    db_url = await asyncio.to_thread(
                        lambda: stack.enter_context(PostgresServer(workdir=workdir / "postgres")).dsn
                    )
                if rd_url is None:
                    rd_url = await asyncio.to_thread(
                        lambda: stack.enter_context(RedisServer(workdir=workdir / "redis")).url
                    )
            sqlalchemy_url, dsn = _db_url(db_url)
            engine = create_async_engine(sqlalchemy_url, pool_size=5, max_overflow=5, pool_pre_ping=True)
            stack.push_async_callback(engine.dispose)
            instrument_engine(engine, db="main", telemetry=telemetry)
            checker = HealthChecker(
                [PostgresCheck("postgres", dsn=dsn, timeout=2.0), RedisCheck("redis", url=rd_url, timeout=1.0)],
                interval=health_interval,
                registry=None,
                up_metric=telemetry["jobpulse_dependency_up"],
                duration_metric=telemetry["jobpulse_dependency_check_duration_seconds"],
            )
            monitor = HeartbeatMonitor(
                url=rd_url, registry=None, metric=telemetry["worker_last_heartbeat_timestamp_seconds"]
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
                data_dir=data_dir,
            )
            state["platform"] = app.state.platform = current
            await current.start()
            stack.push_async_callback(current.stop)
            await health.start()
            stack.push_async_callback(health.stop)
            # check/heartbeat outages go into the uptime bars; stopped before the checks and heartbeats close
            await service.start(interval=health_interval)
            stack.push_async_callback(service.stop)
            yield

    health = HealthApp(None, service="platform")
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

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(http_metrics)])
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.faults = faults
    app.state.health = health
    app.state.status = status
    return app
