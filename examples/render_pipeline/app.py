"""Luneo's render pipeline (seed 002): a web process that enqueues Celery tasks run by worker processes.

- ``POST /api/renders`` ``{"render_type": ..., "quality": ...}`` enqueues a render (queue ``renders``);
- ``POST /api/ar/convert`` ``{"conversion_type": ...}`` enqueues an AR conversion (queue ``ar_conversions``);
- ``POST /api/widget/handshake`` ``{"shop_domain": ..., "token": ...}`` is an embed handshake, handled inline;
- ``POST /api/faults`` ``{"scenario": ...}`` switches the workers' fault scenario (healthy, error-spike,
  cost-spike, backlog);
- ``GET /api/workers`` lists the worker processes; ``GET /metrics`` is the web process's metrics,
  ``GET /metrics/workers`` every worker's, merged (jobpulse's multi-process mode); ``GET /health``.

The lifespan starts Redis (unless ``broker_url`` is given), ``workers`` Celery worker processes
(``worker.py``) and one :class:`~jobpulse.runtime.queues.QueueState` collector, which reads both queues'
depth and oldest-task age from Redis every ``queue_interval`` seconds into
``luneo_worker_queue_wait_time_current_seconds`` and ``jobpulse_queue_depth``. The workers write their
metrics to one multi-process directory (:mod:`jobpulse.runtime.multiprocess`) that the web process serves
merged at ``/metrics/workers``: Prometheus scrapes two paths of one target, whatever the number of workers.
(The web process itself stays in ordinary single-process mode, so the example can run inside ``jobpulse
demo`` or a test next to other apps.)

Run it with ``jobpulse demo render_pipeline`` or ``uvicorn --factory examples.render_pipeline.app:create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jobpulse import Telemetry
from jobpulse.runtime.context import CorrelationMiddleware
from jobpulse.runtime.queues import QueueState
from jobpulse.verify.timescale import SpeedClock


def _load_worker_module() -> Any:
    """``worker.py`` beside this file (examples are loaded by path, not as a package)."""
    name = "jobpulse_example_render_pipeline_worker"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("worker.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


worker_module = _load_worker_module()

__all__ = ["FAULT_SCENARIOS", "METRICS_PATHS", "SPEC_PATH", "WorkerProcess", "create_app"]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
#: what Prometheus scrapes on this app (``jobpulse demo`` reads it): the web process and the merged workers
METRICS_PATHS = ("/metrics", "/metrics/workers")
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
FAULT_SCENARIOS = tuple(worker_module.SCENARIOS)
RENDER_TYPES = ("product_2d", "product_3d", "thumbnail")
QUALITIES = ("draft", "standard", "hd")
CONVERSIONS = ("glb_to_usdz", "usdz_to_glb")
_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9-]{0,62}){1,4}")
#: tokens the simulated widget service accepts; anything else fails the handshake
VALID_TOKEN = re.compile(r"tok_[a-f0-9]{16}")


@dataclass
class WorkerProcess:
    """One ``celery worker`` subprocess; it writes ``ready_file`` once its metrics and tasks are set up."""

    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    log_path: Path
    ready: bool = False


@dataclass
class Pipeline:
    """What the lifespan starts and stops; ``app.state.pipeline``."""

    broker_url: str | None
    workers: list[WorkerProcess] = field(default_factory=list)
    redis: Any = None
    client: Any = None
    celery: Any = None
    queue_state: QueueState | None = None
    workdir: Path | None = None
    own_workdir: bool = False


def _start_worker(
    pipeline: Pipeline, n: int, *, time_scale: float, concurrency: int, seed: int | None, clock: SpeedClock
) -> None:
    assert pipeline.broker_url is not None and pipeline.workdir is not None
    ready_file = pipeline.workdir / f"worker-{n}.ready"
    log_path = pipeline.workdir / f"worker-{n}.log"
    env = {
        **os.environ,
        "RENDER_PIPELINE_BROKER": pipeline.broker_url,
        "RENDER_PIPELINE_READY_FILE": str(ready_file),
        "RENDER_PIPELINE_METRICS_DIR": str(pipeline.workdir / "metrics"),
        "RENDER_PIPELINE_TIME_SCALE": str(time_scale),
        "RENDER_PIPELINE_CONCURRENCY": str(concurrency),
        "RENDER_PIPELINE_WORKER_NAME": f"render-{n}",
        **clock.env(),  # the workers run on the web process's clock
    }
    if seed is not None:
        env["RENDER_PIPELINE_SEED"] = str(seed + n)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=pipeline.workdir,
        )
    pipeline.workers.append(WorkerProcess(f"render-{n}", process, ready_file, log_path))


def _wait_until_ready(pipeline: Pipeline, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for worker in pipeline.workers:
        while not worker.ready:
            if worker.ready_file.exists():
                worker.ready = True
            elif worker.process.poll() is not None:
                tail = worker.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker {worker.name} exited with {worker.process.returncode}:\n{tail}")
            elif time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.name} did not start within {timeout}s")
            else:
                time.sleep(0.05)


def _stop_workers(pipeline: Pipeline, timeout: float = 15.0) -> None:
    for worker in pipeline.workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish running tasks
    deadline = time.monotonic() + timeout
    for worker in pipeline.workers:
        try:
            worker.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


class WorkersMetrics:
    """``/metrics/workers``: every worker's metrics merged from the multi-process directory."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from jobpulse.runtime import multiprocess

            assert self.pipeline.workdir is not None, "the app has not started"
            self._app = multiprocess.metrics_app(self.pipeline.workdir / "metrics")
        await self._app(scope, receive, send)


def create_app(
    *,
    spec_path: Path = SPEC_PATH,
    registry: CollectorRegistry | None = None,
    broker_url: str | None = None,
    workers: int = 2,
    concurrency: int = 2,
    scenario: str = "healthy",
    render_time_scale: float = 1.0,
    queue_interval: float = 5.0,
    workdir: Path | None = None,
    seed: int | None = None,
    rng: random.Random | None = None,
    clock: SpeedClock | None = None,
    **_: Any,
) -> Starlette:
    """The web process. Without ``broker_url`` a private Redis is started on loopback (needs redis-server).

    ``clock`` is the app's time, the workers' too (``jobpulse demo --speed`` and the end-to-end tests run it faster).
    """
    clock = clock or SpeedClock()
    if scenario not in FAULT_SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(FAULT_SCENARIOS)}")
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry() if registry is None else registry)
    pipeline = Pipeline(broker_url)
    random_ = rng or random.Random(seed)

    async def enqueue(task: str, kwargs: dict[str, str]) -> JSONResponse:
        assert pipeline.celery is not None
        result = await anyio.to_thread.run_sync(lambda: pipeline.celery.send_task(task, kwargs=kwargs))
        return JSONResponse({"task_id": result.id, "task": task, **kwargs}, status_code=202)

    async def body(request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}

    async def create_render(request: Request) -> JSONResponse:
        payload = await body(request)
        render_type, quality = payload.get("render_type", "product_2d"), payload.get("quality", "standard")
        if render_type not in RENDER_TYPES or quality not in QUALITIES:
            return JSONResponse({"error": f"render_type in {RENDER_TYPES}, quality in {QUALITIES}"}, 422)
        return await enqueue(worker_module.RENDER_TASK, {"render_type": render_type, "quality": quality})

    async def convert(request: Request) -> JSONResponse:
        conversion = (await body(request)).get("conversion_type", "glb_to_usdz")
        if conversion not in CONVERSIONS:
            return JSONResponse({"error": f"conversion_type in {CONVERSIONS}"}, 422)
        return await enqueue(worker_module.AR_TASK, {"conversion_type": conversion})

    async def handshake(request: Request) -> JSONResponse:
        started = time.perf_counter()
        payload = await body(request)
        shop, token = payload.get("shop_domain"), payload.get("token")
        await asyncio.sleep(random_.uniform(0.005, 0.04))
        reason = None
        if not isinstance(shop, str) or not _SHOP.fullmatch(shop):
            reason, shop = "unknown_shop", "invalid"
        elif not isinstance(token, str) or not VALID_TOKEN.fullmatch(token):
            reason = "invalid_signature"
        elif request.headers.get("origin", f"https://{shop}") != f"https://{shop}":
            reason = "origin_mismatch"
        status = "failure" if reason else "success"
        telemetry.metric("luneo_embed_handshakes_total").inc(status=status)
        telemetry.metric("luneo_embed_handshake_duration_seconds").observe(time.perf_counter() - started, status=status)
        if reason:
            # shop_domain is bounded by the spec (max_values): shops past the budget become __other__
            telemetry.metric("luneo_embed_handshake_failures_total").inc(failure_reason=reason, shop_domain=shop)
            return JSONResponse({"status": "failure", "reason": reason}, status_code=403)
        return JSONResponse({"status": "success"})

    async def faults(request: Request) -> JSONResponse:
        name = (await body(request)).get("scenario")
        if name not in FAULT_SCENARIOS:
            return JSONResponse({"error": f"scenario in {FAULT_SCENARIOS}"}, 422)
        await anyio.to_thread.run_sync(pipeline.client.set, worker_module.SCENARIO_KEY, name)
        return JSONResponse({"scenario": name})

    async def list_workers(request: Request) -> JSONResponse:
        return JSONResponse(
            [
                {"name": w.name, "pid": w.process.pid, "alive": w.process.poll() is None, "ready": w.ready}
                for w in pipeline.workers
            ]
        )

    async def health(request: Request) -> JSONResponse:
        alive = sum(1 for w in pipeline.workers if w.process.poll() is None)
        snapshots = pipeline.queue_state.snapshots if pipeline.queue_state else {}
        return JSONResponse(
            {
                "status": "ok" if alive == len(pipeline.workers) else "degraded",
                "workers_alive": alive,
                "queues": {name: {"depth": s.depth, "oldest_age": s.oldest_age} for name, s in snapshots.items()},
            }
        )

    def start() -> None:
        from jobpulse.integrations.redis import sync_client

        pipeline.own_workdir = workdir is None
        pipeline.workdir = Path(tempfile.mkdtemp(prefix="render-pipeline-")) if workdir is None else Path(workdir)
        pipeline.workdir.mkdir(parents=True, exist_ok=True)
        # the workers' shared multi-process directory: fresh, as no worker of an earlier run lives
        shutil.rmtree(pipeline.workdir / "metrics", ignore_errors=True)
        (pipeline.workdir / "metrics").mkdir()
        if pipeline.broker_url is None:
            from jobpulse.verify.datastores import RedisServer

            pipeline.redis = RedisServer(workdir=pipeline.workdir / "redis").start()
            pipeline.broker_url = pipeline.redis.url
        pipeline.client = sync_client(pipeline.broker_url)
        pipeline.client.set(worker_module.SCENARIO_KEY, scenario)
        pipeline.celery = worker_module.make_celery(pipeline.broker_url, telemetry, clock=clock)
        for n in range(workers):
            _start_worker(pipeline, n, time_scale=render_time_scale, concurrency=concurrency, seed=seed, clock=clock)
        _wait_until_ready(pipeline)
        pipeline.queue_state = QueueState(
            pipeline.client,
            celery=worker_module.QUEUES,
            interval=max(0.25, clock.real(queue_interval)),
            registry=telemetry.registry,
            telemetry=telemetry,
            queue_label="queue_name",
            clock=clock.time,
            names={
                "oldest_age": "luneo_worker_queue_wait_time_current_seconds",
                "refresh_errors": "jobpulse_queue_refresh_errors_total",
            },
        ).start()

    def stop() -> None:
        if pipeline.queue_state is not None:
            pipeline.queue_state.stop()
        _stop_workers(pipeline)
        if pipeline.celery is not None:
            pipeline.celery.close()
        if pipeline.client is not None:
            with contextlib.suppress(Exception):
                pipeline.client.close()
        if pipeline.redis is not None:
            pipeline.redis.stop()
        if pipeline.own_workdir and pipeline.workdir is not None:
            shutil.rmtree(pipeline.workdir, ignore_errors=True)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await anyio.to_thread.run_sync(start)
        except BaseException:
            await anyio.to_thread.run_sync(stop)
            raise
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(stop)

    routes = [
        Route("/api/renders", create_render, methods=["POST"]),
        Route("/api/ar/convert", convert, methods=["POST"]),
        Route("/api/widget/handshake", handshake, methods=["POST"]),
        Route("/api/faults", faults, methods=["POST"]),
        Route("/api/workers", list_workers, methods=["GET"]),
        Route("/metrics", telemetry.metrics_app()),
        Route("/metrics/workers", WorkersMetrics(pipeline)),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(CorrelationMiddleware)])
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.pipeline = pipeline
    app.state.scenario_key = worker_module.SCENARIO_KEY
    return app
