"""Developer preview jobs (seed 000), instrumented only through jobpulse.

A Starlette app that queues preview renders and runs them inline (in the request) or on in-process
asyncio workers. Every metric comes from ``jobpulse.yaml`` beside this file: the job tracker turns
enqueue → start → succeed/fail into ``preview_generation_jobs_total``, ``..._jobs_completed_total``,
``..._job_duration_ms`` and ``..._queue_depth``.

Run it on its own with ``uvicorn --factory examples.preview_jobs.app:create_app`` or through
``jobpulse demo``, which also drives traffic and starts Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from jobpulse import Job, Telemetry
from jobpulse.verify.timescale import SpeedClock

__all__ = [
    "FAULT_SCENARIOS",
    "SPEC_PATH",
    "Faults",
    "JobIdFormatter",
    "PreviewJob",
    "PreviewService",
    "RenderError",
    "configure_logging",
    "create_app",
]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
API = "/api/v1/developers/preview-jobs"
PREVIEW_URL = "/static/dev-previews"

Backend = Literal["inline", "worker"]
Status = Literal["queued", "running", "ready", "failed"]
FAULT_SCENARIOS = ("healthy", "failure-spike", "slow", "stall")
#: Probability that one render attempt fails, per fault scenario: healthy stays inside the 99% success SLO.
FAIL_RATES = {"healthy": 0.005, "failure-spike": 0.35, "slow": 0.005, "stall": 0.005}
#: Render time in seconds, per fault scenario: 50-300 ms, and 5.5-6.5 minutes when the renderer is slow
#: (above the seed's 5-minute p95, so PreviewGenerationSlow fires once such renders complete).
RENDER_SECONDS = {"slow": (330.0, 390.0)}
HEALTHY_RENDER_SECONDS = (0.05, 0.3)
#: Preview scenarios are free-form but short and plain; the spec bounds the label's cardinality anyway.
SCENARIO_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

LOGGER = logging.getLogger("preview_jobs")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s job_id=%(job_id)s %(message)s"


# -- logging ------------------------------------------------------------------------------------------
class JobIdFormatter(logging.Formatter):
    """Prints ``job_id=<id>`` on every line (``job_id=-`` for lines outside a job)."""

    def __init__(self, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt, defaults={"job_id": "-"})


def configure_logging(handler: logging.Handler | None = None, level: int = logging.INFO) -> logging.Handler:
    """Attach ``handler`` (stderr by default) with the job-id formatter to the app's logger."""
    handler = handler or logging.StreamHandler()
    handler.setFormatter(JobIdFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    return handler


def job_log(job_id: str) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records carry ``job_id`` (as ``record.job_id``)."""
    return logging.LoggerAdapter(LOGGER, {"job_id": job_id})


# -- fault injection ----------------------------------------------------------------------------------
class Faults:
    """How the simulated renderer misbehaves; change ``scenario`` at runtime to switch."""

    def __init__(
        self,
        scenario: str = "healthy",
        *,
        render_time_scale: float = 1.0,
        fail_rate: float | None = None,
        rng: random.Random | None = None,
        clock: SpeedClock | None = None,
    ) -> None:
        self.scenario = scenario
        #: the app's time: renders sleep on it and the tracker measures with it (tests run it faster)
        self.clock = clock or SpeedClock()
        self.render_time_scale = render_time_scale
        #: Overrides the scenario's failure probability when set.
        self.fail_rate = fail_rate
        #: Decides failure for one attempt when set (deterministic tests); wins over ``fail_rate``.
        self.fail_hook: Callable[[PreviewJob], bool] | None = None
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

    def render_seconds(self) -> float:
        low, high = RENDER_SECONDS.get(self._scenario, HEALTHY_RENDER_SECONDS)
        return self.rng.uniform(low, high) * self.render_time_scale

    def should_fail(self, job: PreviewJob) -> bool:
        if self.fail_hook is not None:
            return self.fail_hook(job)
        rate = FAIL_RATES[self._scenario] if self.fail_rate is None else self.fail_rate
        return self.rng.random() < rate


# -- jobs -----------------------------------------------------------------------------------------------
class RenderError(Exception):
    """The (simulated) renderer failed this attempt."""


@dataclass
class PreviewJob:
    id: str
    scenario: str
    backend: str
    tracked: Job
    status: Status = "queued"
    attempts: int = 1
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    preview_file: str | None = None
    error: str | None = None

    def set(self, status: Status, *, error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.updated_at = time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "status": self.status,
            "scenario": self.scenario,
            "backend": self.backend,
            "attempts": self.attempts,
            "preview_url": f"{PREVIEW_URL}/{self.preview_file}" if self.preview_file else None,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PreviewService:
    """Job state (in memory), the renderer, and — for the worker backend — the queue and its workers."""

    def __init__(
        self, telemetry: Telemetry, *, backend: Backend, faults: Faults, preview_dir: Path, workers: int
    ) -> None:
        if backend not in ("inline", "worker"):
            raise ValueError(f"backend must be 'inline' or 'worker', not {backend!r}")
        self.tracker = telemetry.job("preview", clock=faults.clock.time)
        # both outcomes exist at 0 from the start: before the first job completes, Prometheus sees the series
        # (absent() stays false, rate() reads 0) instead of nothing
        completed = telemetry.metric("preview_generation_jobs_completed_total")
        for outcome in ("ready", "failed"):
            completed.labels(outcome=outcome)
        self.backend: Backend = backend
        self.faults = faults
        self.preview_dir = preview_dir
        self.workers = max(1, workers)
        self.jobs: dict[str, PreviewJob] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._renders: set[asyncio.Task[None]] = set()  # attempts the workers handed to the renderer
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.preview_dir.mkdir(parents=True, exist_ok=True)
        if self.backend != "worker" or self._tasks:
            return
        # a fresh queue bound to this loop, keeping whatever was enqueued before startup
        old, self._queue = self._queue, asyncio.Queue()
        while not old.empty():
            self._queue.put_nowait(old.get_nowait())
        self._stopping = False
        self._tasks = [asyncio.create_task(self._worker(n), name=f"preview-worker-{n}") for n in range(self.workers)]
        LOGGER.info("started %d preview workers", self.workers)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop the workers at once; renders in progress get ``grace`` seconds to finish, then are cancelled."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        renders = set(self._renders)
        if renders:
            _, pending = await asyncio.wait(renders, timeout=grace)
            for task in pending:
                task.cancel()
        await asyncio.gather(*tasks, *renders, return_exceptions=True)
        if tasks:
            LOGGER.info("stopped %d preview workers (%d jobs still queued)", len(tasks), self.queued)

    @property
    def queued(self) -> int:
        return sum(1 for job in self.jobs.values() if job.status == "queued")

    @property
    def workers_alive(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    @property
    def rendering(self) -> int:
        """Attempts the renderer is working on now."""
        return len(self._renders)

    # -- API operations -------------------------------------------------------------------------------
    async def submit(self, scenario: str) -> PreviewJob:
        job_id = uuid.uuid4().hex
        if self.backend == "inline":
            with (
                contextlib.suppress(RenderError),
                self.tracker.run(job_id, scenario=scenario, backend="inline") as tracked,
            ):
                await self._attempt(self._add(job_id, scenario, tracked))
            return self.jobs[job_id]
        job = self._add(job_id, scenario, self.tracker.enqueue(job_id, scenario=scenario, backend="worker"))
        self._queue.put_nowait(job.id)
        return job

    async def refresh(self, job: PreviewJob) -> bool:
        """Requeue ``job`` as a new attempt; False if it is rendering inline right now."""
        previous = job.status
        if previous == "running" and self.backend == "inline":
            return False
        job.tracked.requeue()  # counts the new attempt in preview_generation_jobs_total
        job.attempts = job.tracked.attempts
        job.set("queued")
        job_log(job.id).info("refresh requested: attempt %d (was %s)", job.attempts, previous)
        if self.backend == "inline":
            with contextlib.suppress(RenderError), job.tracked:
                await self._attempt(job)
        elif previous != "queued":
            # a queued job keeps its place in the queue; a running attempt is abandoned
            self._queue.put_nowait(job.id)
        return True

    # -- internals ------------------------------------------------------------------------------------
    def _add(self, job_id: str, scenario: str, tracked: Job) -> PreviewJob:
        job = PreviewJob(id=job_id, scenario=scenario, backend=self.backend, tracked=tracked)
        self.jobs[job_id] = job
        job_log(job_id).info("preview job queued (scenario=%s, backend=%s)", scenario, self.backend)
        return job

    async def _attempt(self, job: PreviewJob) -> None:
        """Render the current attempt of a started job; raises RenderError after recording the state."""
        log = job_log(job.id)
        job.set("running")
        log.info("render started (attempt %d)", job.attempts)
        try:
            job.preview_file = await self._render(job)
        except RenderError as exc:
            job.set("failed", error=str(exc))
            log.warning("render failed (attempt %d): %s", job.attempts, exc)
            raise
        except asyncio.CancelledError:
            job.set("failed", error="cancelled")
            log.warning("render cancelled (attempt %d)", job.attempts)
            raise
        job.set("ready")
        log.info("preview ready: %s/%s", PREVIEW_URL, job.preview_file)

    async def _render(self, job: PreviewJob) -> str:
        seconds = self.faults.render_seconds()
        await self.faults.clock.sleep(seconds)
        if self.faults.should_fail(job):
            raise RenderError("renderer crashed (simulated)")
        name = f"{job.id}.svg"
        await asyncio.to_thread(_write_preview, self.preview_dir / name, job, seconds)
        return name

    async def _worker(self, n: int) -> None:
        """Takes jobs off the queue, starts them and hands each to the renderer (a service the worker waits on
        asynchronously, so a slow renderer slows renders down without stopping the queue)."""
        while not self._stopping:
            job_id = await self._queue.get()
            job = self.jobs.get(job_id)
            if job is None or job.status != "queued":
                continue
            while self.faults.stalled and not self._stopping:
                await asyncio.sleep(0.05)  # stalled: hold the job, still counted as queued
            if self._stopping:
                return
            job.tracked.start()
            render = asyncio.create_task(self._run_attempt(job, job.attempts), name=f"render-{job.id}")
            self._renders.add(render)
            render.add_done_callback(self._renders.discard)

    async def _run_attempt(self, job: PreviewJob, attempt: int) -> None:
        """One worker attempt; its result is dropped if the job was refreshed meanwhile."""
        log = job_log(job.id)
        job.set("running")
        log.info("render started (attempt %d, worker)", attempt)
        try:
            name = await self._render(job)
        except RenderError as exc:
            if job.attempts != attempt:
                log.info("attempt %d failed after a refresh; result discarded", attempt)
                return
            job.tracked.fail(exc)
            job.set("failed", error=str(exc))
            log.warning("render failed (attempt %d): %s", attempt, exc)
            return
        if job.attempts != attempt:
            log.info("attempt %d finished after a refresh; result discarded", attempt)
            return
        job.tracked.succeed()
        job.preview_file = name
        job.set("ready")
        log.info("preview ready: %s/%s", PREVIEW_URL, name)


def _write_preview(path: Path, job: PreviewJob, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    title = html.escape(job.scenario)
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="80">'
        '<rect width="100%" height="100%" fill="#f4f6fa"/>'
        f'<text x="12" y="32" font-family="sans-serif" font-size="16">Preview: {title}</text>'
        f'<text x="12" y="58" font-family="monospace" font-size="11">job {job.id} · attempt {job.attempts}'
        f" · {seconds * 1000:.0f} ms</text></svg>\n"
    )


# -- HTTP -------------------------------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _job_response(job: PreviewJob, backend: Backend) -> JSONResponse:
    # the worker backend accepts (202); inline answers with the render's outcome
    status = 202 if backend == "worker" else 200 if job.status == "ready" else 500
    return JSONResponse(job.to_json(), status_code=status, headers={"location": f"{API}/{job.id}"})


async def _read_scenario(request: Request) -> str | JSONResponse:
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _error(400, "body must be JSON")
    if not isinstance(payload, dict):
        return _error(400, "body must be a JSON object")
    scenario = payload.get("scenario", "default")
    if not isinstance(scenario, str) or not SCENARIO_PATTERN.fullmatch(scenario):
        return _error(422, "scenario must be 1-64 characters of letters, digits, '.', '_' or '-'")
    return scenario


def create_app(
    *,
    spec_path: Path = SPEC_PATH,
    registry: CollectorRegistry | None = None,
    backend: Backend = "worker",
    scenario: str = "healthy",
    preview_dir: Path | None = None,
    workers: int = 2,
    metrics_token: str | None = None,
    render_time_scale: float = 1.0,
    fail_rate: float | None = None,
    rng: random.Random | None = None,
    clock: SpeedClock | None = None,
) -> Starlette:
    """The preview-jobs app. ``app.state`` holds ``telemetry``, ``service`` and ``faults``.

    ``preview_dir`` defaults to ``<cwd>/static/dev-previews``; ``scenario`` is the fault scenario
    (healthy, failure-spike, slow, stall) and can be changed later via ``app.state.faults.scenario``.
    ``clock`` is the app's time (``jobpulse demo --speed`` and the end-to-end tests run it faster).
    """
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry() if registry is None else registry)
    faults = Faults(scenario, render_time_scale=render_time_scale, fail_rate=fail_rate, rng=rng, clock=clock)
    previews = Path.cwd() / "static" / "dev-previews" if preview_dir is None else Path(preview_dir)
    service = PreviewService(telemetry, backend=backend, faults=faults, preview_dir=previews, workers=workers)

    async def create_job(request: Request) -> JSONResponse:
        scenario = await _read_scenario(request)
        if isinstance(scenario, JSONResponse):
            return scenario
        job = await service.submit(scenario)
        return _job_response(job, service.backend)

    async def get_job(request: Request) -> JSONResponse:
        job = service.jobs.get(request.path_params["job_id"])
        if job is None:
            return _error(404, "unknown job id")
        return JSONResponse(job.to_json())

    async def refresh_job(request: Request) -> JSONResponse:
        job = service.jobs.get(request.path_params["job_id"])
        if job is None:
            return _error(404, "unknown job id")
        if not await service.refresh(job):
            return _error(409, "job is rendering right now")
        return _job_response(job, service.backend)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "backend": service.backend,
                "fault_scenario": faults.scenario,
                "workers_alive": service.workers_alive,
                "queued": service.queued,
                "rendering": service.rendering,
                "jobs": len(service.jobs),
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route(API, create_job, methods=["POST"]),
        Route(API + "/{job_id}", get_job, methods=["GET"]),
        Route(API + "/{job_id}/refresh", refresh_job, methods=["POST"]),
        Route("/metrics", telemetry.metrics_app(token=metrics_token)),
        Route("/health", health, methods=["GET"]),
        Mount(PREVIEW_URL, StaticFiles(directory=previews, check_dir=False), name="previews"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.service = service
    app.state.faults = faults
    return app
