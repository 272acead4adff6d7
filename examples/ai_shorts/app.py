"""Creative AI Shorts Platform (seed 001), instrumented only through jobpulse.

A Starlette API that accepts short-video generation jobs, alone or in batches, and in-process asyncio
workers that run them: write a script with an LLM (behind a prompt cache), render, save to the database.
Everything the seed monitors comes from ``jobpulse.yaml`` beside this file:

- job and batch lifecycles through the job tracker (``jobs_created_total``, ``jobs_completed_total``,
  ``job_duration_seconds``, ``active_jobs``, ``batches_*``, ``batch_processing_seconds``);
- LLM calls, tokens and the cache through catalogue instruments (``llm_*``, ``tokens_used``, ``cache_*``);
- HTTP requests through ``MetricsMiddleware.from_telemetry`` (route templates, never raw paths);
- ``X-Trace-ID``/``X-Request-ID`` on every response through ``CorrelationMiddleware``, and JSON log lines
  carrying ``trace_id``, ``request_id``, ``user_id``, ``job_id`` and ``batch_id`` through
  ``jobpulse.logging`` — a job logs the trace id of the request that created it.

Run it with ``uvicorn --factory examples.ai_shorts.app:create_json_logging_app`` (JSON logs on stderr) or
through ``jobpulse demo ai_shorts``, which also drives traffic and starts Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import jobpulse.logging as jlog
from jobpulse import Job, Telemetry
from jobpulse.runtime import context
from jobpulse.runtime.context import CorrelationMiddleware, RequestContext, valid_request_id
from jobpulse.runtime.http import MetricsMiddleware
from jobpulse.verify.timescale import SpeedClock

__all__ = [
    "FAULT_SCENARIOS",
    "JOB_TYPES",
    "MODELS",
    "SPEC_PATH",
    "Faults",
    "ShortsService",
    "configure_logging",
    "create_app",
    "create_json_logging_app",
]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
API = "/api/v1"
JOB_TYPES = ("script", "voiceover", "video", "thumbnail")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "gemini-flash")
#: Which model writes each job type's script.
MODEL_FOR = {"script": "gpt-4o", "voiceover": "gpt-4o-mini", "video": "claude-sonnet", "thumbnail": "gemini-flash"}
MAX_BATCH = 50
CACHE_SIZE = 500
ACTIVE_USER_WINDOW = 300.0  # seconds: active_users counts users seen this recently

LOG = logging.getLogger("ai_shorts")
API_LOG = logging.getLogger("ai_shorts.api")
WORKER_LOG = logging.getLogger("ai_shorts.worker")
DB_LOG = logging.getLogger("ai_shorts.db")


@dataclass(frozen=True)
class Scenario:
    """How the simulated dependencies behave: probabilities, and a slowdown of the render step."""

    job_failure: float = 0.0
    llm_error: float = 0.01
    cache_hit: float = 0.7
    db_error: float = 0.0
    slowdown: float = 1.0
    slow_share: float = 0.0  # this share of renders is slowed down by ``slowdown`` (the others are not)
    hang: bool = False  # jobs start and never finish: active_jobs climbs


#: Fault scenarios: the demo's four (healthy, failure-spike, slow, stall) and one per remaining alert.
SCENARIOS: dict[str, Scenario] = {
    "healthy": Scenario(),
    "failure-spike": Scenario(job_failure=0.3, llm_error=0.25),  # HighErrorRate, LLMHighErrorRate, batches
    # 10% of renders wait 40-60 s on a slow render farm: p99 above 30 s, while the jobs in flight stay few
    "slow": Scenario(slowdown=60.0, slow_share=0.1),  # HighLatency
    "stall": Scenario(hang=True),  # HighActiveJobs
    "llm-errors": Scenario(llm_error=0.3),  # LLMHighErrorRate
    "cache-cold": Scenario(cache_hit=0.2),  # LowCacheHitRate
    "db-errors": Scenario(db_error=0.5),  # DatabaseConnectionIssue
}
FAULT_SCENARIOS = tuple(SCENARIOS)
RENDER_SECONDS = (0.2, 1.0)
LLM_SECONDS = (0.05, 0.3)
#: calls of the LLM per job before the job fails, and the pause before the n-th retry (n x this)
LLM_ATTEMPTS = 8
LLM_RETRY_SECONDS = 0.5


# -- logging ------------------------------------------------------------------------------------------------
def configure_logging(handler: logging.Handler | None = None, level: int = logging.INFO) -> logging.Handler:
    """JSON lines (seed 001's fields) from the app's loggers and the access log, to ``handler`` (stderr)."""
    handler = handler or logging.StreamHandler()
    handler.setFormatter(jlog.JsonFormatter())
    handler.addFilter(jlog.ContextFilter())
    for name in ("ai_shorts", "jobpulse.access"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return handler


# -- fault injection ----------------------------------------------------------------------------------------
class Faults:
    """The current fault scenario; change ``scenario`` at runtime to switch."""

    def __init__(
        self,
        scenario: str = "healthy",
        *,
        time_scale: float = 1.0,
        rng: random.Random | None = None,
        clock: SpeedClock | None = None,
    ):
        self.scenario = scenario
        self.time_scale = time_scale
        self.rng = rng or random.Random()
        #: the app's time: simulated work sleeps on it and the trackers measure with it (tests run it faster)
        self.clock = clock or SpeedClock()

    @property
    def scenario(self) -> str:
        return self._name

    @scenario.setter
    def scenario(self, value: str) -> None:
        if value not in SCENARIOS:
            raise ValueError(f"unknown fault scenario {value!r}; choose from {', '.join(SCENARIOS)}")
        self._name = value
        self.current = SCENARIOS[value]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def seconds(self, bounds: tuple[float, float], slowdown: float = 1.0) -> float:
        return self.rng.uniform(*bounds) * slowdown * self.time_scale

    def render_slowdown(self) -> float:
        scenario = self.current
        return scenario.slowdown if self.chance(scenario.slow_share or 1.0) else 1.0


class LLMError(Exception):
    """The (simulated) provider refused or failed the call."""


class DatabaseError(Exception):
    """The (simulated) database connection failed."""


# -- jobs and batches ---------------------------------------------------------------------------------------
@dataclass
class ShortJob:
    id: str
    job_type: str
    user_id: str | None
    prompt: str
    tracked: Job
    origin: RequestContext | None  # the context of the request that created it
    batch_id: str | None = None
    status: str = "queued"
    error: str | None = None
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "job_type": self.job_type,
            "status": self.status,
            "batch_id": self.batch_id,
            "error": self.error,
        }


@dataclass
class Batch:
    id: str
    tracked: Job
    job_ids: list[str]
    remaining: int
    failed: int = 0

    @property
    def status(self) -> str:
        if self.remaining:
            return "processing"
        return "failure" if self.failed else "success"


class ShortsService:
    """Queue, workers, the simulated LLM/cache/database, and the metrics the tracker does not cover."""

    def __init__(self, telemetry: Telemetry, faults: Faults, *, workers: int = 4) -> None:
        self.telemetry = telemetry
        self.faults = faults
        self.clock = faults.clock
        self.jobs_tracker = telemetry.job("generation", clock=self.clock.time)
        self.batches_tracker = telemetry.job("batch", clock=self.clock.time)
        self.jobs: dict[str, ShortJob] = {}
        self.batches: dict[str, Batch] = {}
        self.cache: dict[str, str] = {}
        self.users: dict[str, float] = {}
        self.n_workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()  # jobs in progress (hanging ones too, in the stall scenario)
        m = telemetry.metric
        self.llm_requests = m("llm_requests_total")
        self.llm_latency = m("llm_latency_seconds")
        self.tokens = m("tokens_used")
        self.cache_hits = m("cache_hits_total").child(())
        self.cache_misses = m("cache_misses_total").child(())
        self.cache_entries = m("cache_entries").child(())
        self.active_users = m("active_users").child(())
        self.db_errors = m("db_connection_errors_total").child(())

    # -- lifecycle --
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(n)) for n in range(self.n_workers)]
        self._tasks.append(asyncio.create_task(self._count_users()))

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._running]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- API side --
    @property
    def running(self) -> int:
        return len(self._running)

    def seen_user(self, user_id: str | None) -> None:
        if user_id is not None:
            self.users[user_id] = self.clock.monotonic()

    def create_job(self, job_type: str, prompt: str, user_id: str | None, batch_id: str | None = None) -> ShortJob:
        tracked = self.jobs_tracker.enqueue(job_type=job_type)
        job = ShortJob(tracked.id, job_type, user_id, prompt, tracked, context.current(), batch_id)
        self.jobs[job.id] = job
        self._queue.put_nowait(job.id)
        if batch_id is None:
            context.bind(job_id=job.id)
        API_LOG.info("job created", extra={"job_type": job_type})
        return job

    def create_batch(self, job_type: str, prompts: list[str], user_id: str | None) -> Batch:
        tracked = self.batches_tracker.enqueue()
        tracked.start()
        batch = Batch(tracked.id, tracked, [], remaining=len(prompts))
        self.batches[batch.id] = batch
        context.bind(batch_id=batch.id)
        API_LOG.info("batch created", extra={"size": len(prompts)})
        for prompt in prompts:
            batch.job_ids.append(self.create_job(job_type, prompt, user_id, batch.id).id)
        return batch

    # -- workers --
    async def _worker(self, n: int) -> None:
        """Takes jobs off the queue and runs each as its own task: the LLM, the render farm and the database are
        services the job waits on, so a slow or hanging one does not stop the worker taking the next job."""
        while True:
            job = self.jobs.get(await self._queue.get())
            if job is None or job.status != "queued":
                continue
            with context.use(job.origin, job_id=job.id, batch_id=job.batch_id):
                task = asyncio.create_task(self._run(job))  # inherits the job's context
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, job: ShortJob) -> None:
        job.tracked.start()
        job.status = "running"
        started = self.clock.monotonic()
        WORKER_LOG.info("job started", extra={"job_type": job.job_type})
        scenario = self.faults.current
        try:
            while self.faults.current.hang:
                await asyncio.sleep(0.05)  # stalled: the dependency answers once the stall ends
            await self.script(job)
            await self.clock.sleep(self.faults.seconds(RENDER_SECONDS, self.faults.render_slowdown()))
            if self.faults.chance(scenario.job_failure):
                raise RuntimeError("render failed (simulated)")
            await self.save(job)
        except asyncio.CancelledError:
            job.tracked.fail()
            job.status = "failed"
            raise
        except Exception as exc:
            job.tracked.fail(exc)
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            WORKER_LOG.error(
                "job failed",
                extra={"job_type": job.job_type, "error": job.error, "duration_ms": self._ms(started)},
            )
        else:
            job.tracked.succeed()
            job.status = "succeeded"
            WORKER_LOG.info("job completed", extra={"job_type": job.job_type, "duration_ms": self._ms(started)})
        self._batch_done(job)

    def _batch_done(self, job: ShortJob) -> None:
        batch = self.batches.get(job.batch_id) if job.batch_id else None
        if batch is None:
            return
        batch.remaining -= 1
        batch.failed += job.status == "failed"
        if batch.remaining == 0:
            if batch.failed:
                batch.tracked.fail()
                WORKER_LOG.error("batch failed", extra={"failed_jobs": batch.failed})
            else:
                batch.tracked.succeed()
                WORKER_LOG.info("batch completed")

    async def script(self, job: ShortJob) -> str:
        """The job's script from the LLM; a failed call is retried after a pause (up to ``LLM_ATTEMPTS`` calls), so
        LLM errors slow jobs down rather than fail them."""
        for attempt in range(1, LLM_ATTEMPTS + 1):
            try:
                return await self.llm(MODEL_FOR[job.job_type], job.prompt)
            except LLMError as exc:
                if attempt == LLM_ATTEMPTS:
                    raise
                WORKER_LOG.warning("LLM call failed, retrying", extra={"error": str(exc), "attempt": attempt})
                await self.clock.sleep(LLM_RETRY_SECONDS * attempt)
        raise AssertionError("unreachable")

    # -- simulated dependencies --
    async def llm(self, model: str, prompt: str) -> str:
        """One LLM call behind the prompt cache."""
        key = f"{model}:{prompt}"
        scenario = self.faults.current
        # simulated: whether a lookup hits is the scenario's hit rate, once the cache holds anything
        if self.cache and self.faults.chance(scenario.cache_hit):
            self.cache_hits.inc()
            return self.cache.get(key) or next(iter(self.cache.values()))
        self.cache_misses.inc()
        started = self.clock.monotonic()
        await self.clock.sleep(self.faults.seconds(LLM_SECONDS))
        self.llm_latency.observe(self.clock.monotonic() - started, model=model)
        if self.faults.chance(scenario.llm_error):
            self.llm_requests.inc(model=model, status="error")
            raise LLMError(f"{model} returned 503 (simulated)")
        self.llm_requests.inc(model=model, status="success")
        self.tokens.observe(self.faults.rng.randint(300, 4000), model=model)
        text = f"script for {prompt!r}"
        if len(self.cache) >= CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = text
        self.cache_entries.set(len(self.cache))
        return text

    async def save(self, job: ShortJob) -> None:
        """Write the result; a failed connection is counted and retried once."""
        for attempt in (1, 2):
            if not self.faults.chance(self.faults.current.db_error):
                return
            self.db_errors.inc()
            DB_LOG.error("database connection lost", extra={"attempt": attempt})
        raise DatabaseError("database unavailable after a retry (simulated)")

    def _ms(self, since: float) -> float:
        return round((self.clock.monotonic() - since) * 1000, 1)

    async def _count_users(self) -> None:
        while True:
            cutoff = self.clock.monotonic() - ACTIVE_USER_WINDOW
            for user, seen in list(self.users.items()):
                if seen < cutoff:
                    del self.users[user]
            self.active_users.set(len(self.users))
            await asyncio.sleep(1.0)


# -- HTTP -------------------------------------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(payload, dict):
        return _error(400, "body must be a JSON object")
    return payload


def _user(request: Request) -> str | None:
    """The caller's ``X-User-ID``, only when it is a well-formed id (it ends up in logs)."""
    return valid_request_id(request.headers.get("x-user-id"))


def create_app(
    *,
    spec_path: Path = SPEC_PATH,
    registry: CollectorRegistry | None = None,
    scenario: str = "healthy",
    workers: int = 4,
    time_scale: float = 1.0,
    metrics_token: str | None = None,
    rng: random.Random | None = None,
    clock: SpeedClock | None = None,
) -> Starlette:
    """The AI shorts API. ``app.state`` holds ``telemetry``, ``service`` and ``faults``.

    ``scenario`` is the fault scenario (see ``FAULT_SCENARIOS``), changeable later through
    ``app.state.faults.scenario``; ``time_scale`` shortens the simulated work (tests use 0.01); ``clock`` is the
    app's time (``jobpulse demo --speed`` and the end-to-end tests run it faster).
    """
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry() if registry is None else registry)
    faults = Faults(scenario, time_scale=time_scale, rng=rng, clock=clock)
    service = ShortsService(telemetry, faults, workers=workers)

    async def create_job(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        user_id = _user(request)
        service.seen_user(user_id)
        context.bind(user_id=user_id)
        job_type = body.get("job_type", "video")
        if job_type not in JOB_TYPES:
            return _error(422, f"job_type must be one of {', '.join(JOB_TYPES)}")
        prompt = str(body.get("prompt", "a cat learns to skateboard"))[:500]
        job = service.create_job(job_type, prompt, user_id)
        return JSONResponse(job.to_json(), status_code=202, headers={"location": f"{API}/jobs/{job.id}"})

    async def get_job(request: Request) -> JSONResponse:
        job = service.jobs.get(request.path_params["job_id"])
        if job is None:
            return _error(404, "unknown job id")
        return JSONResponse(job.to_json())

    async def create_batch(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        user_id = _user(request)
        service.seen_user(user_id)
        context.bind(user_id=user_id)
        job_type = body.get("job_type", "video")
        prompts = body.get("prompts")
        if job_type not in JOB_TYPES:
            return _error(422, f"job_type must be one of {', '.join(JOB_TYPES)}")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_BATCH:
            return _error(422, f"prompts must be a list of 1 to {MAX_BATCH} prompts")
        batch = service.create_batch(job_type, [str(p)[:500] for p in prompts], user_id)
        return JSONResponse({"batch_id": batch.id, "job_ids": batch.job_ids}, status_code=202)

    async def get_batch(request: Request) -> JSONResponse:
        batch = service.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, "unknown batch id")
        return JSONResponse({"batch_id": batch.id, "status": batch.status, "job_ids": batch.job_ids})

    async def health(request: Request) -> JSONResponse:
        # liveness only: no dependency is called
        return JSONResponse({"status": "ok", "fault_scenario": faults.scenario})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route(API + "/jobs", create_job, methods=["POST"]),
        Route(API + "/jobs/{job_id}", get_job, methods=["GET"]),
        Route(API + "/batches", create_batch, methods=["POST"]),
        Route(API + "/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", telemetry.metrics_app(token=metrics_token)),
    ]
    middleware = [
        Middleware(CorrelationMiddleware),  # outermost: the ids exist before anything logs
        Middleware(
            MetricsMiddleware.from_telemetry,  # type: ignore[arg-type]
            telemetry,
            requests="http_requests_total",
            duration="http_request_duration_seconds",
            access_log=True,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.service = service
    app.state.faults = faults
    return app


def create_json_logging_app() -> Starlette:
    """``create_app()`` with JSON logs on stderr, for ``uvicorn --factory``."""
    configure_logging()
    return create_app()
