"""Prompter V7 (seed 003): a Starlette API with provider probes, a version cache, deduplicated results in a
database, Redis and Celery workers — instrumented once, watched from Grafana and Datadog.

- ``POST /v1/prompts`` ``{"prompt": ..., "provider": "openai"}`` ensures the prompt's version (through the
  version cache), calls the provider (simulated: no network), stores the result (a unique constraint on
  prompt and version deduplicates repeats) and enqueues a Celery scoring task on the ``prompter`` queue;
  422 for a bad body, 503 when the provider fails;
- ``GET /v1/results/{result_id}`` reads a stored result (404 if there is none);
- ``GET /v1/info`` names the rollout track and version; ``GET /metrics``; ``GET /health``.

A background thread probes each provider every ``probe_interval`` seconds; a
:class:`~jobpulse.runtime.queues.QueueState` collector reads the Celery queue's depth and whether Redis
answers (``prompter_redis_up``); a Celery worker (threads pool) runs in the process. Without ``broker_url``
a private Redis is started on loopback; without ``database_url`` the results go to SQLite in the workdir
(pass a PostgreSQL URL to use PostgreSQL).

Rollout tracks: ``track="baseline"`` (version v6) or ``track="canary"`` (version v7) run the same code
with their own ``version``; run one app per track and scrape each as its own target with a ``track`` label
(the spec lists ``track`` among its target labels), so baseline and canary can be served side by side.
``jobpulse demo prompt_rollout --scenario good-canary|bad-canary`` does exactly that, each track in its own world
from :data:`ROLLOUT_SCENARIOS`.

Run it with ``jobpulse demo prompt_rollout`` or ``uvicorn --factory examples.prompt_rollout.app:create_app``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import random
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from celery import Celery
from celery.concurrency.thread import TaskPool
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jobpulse import Telemetry
from jobpulse.runtime.context import CorrelationMiddleware
from jobpulse.runtime.middleware import MetricsMiddleware
from jobpulse.runtime.queues import QueueState

__all__ = [
    "ENV",
    "FAULT_SCENARIOS",
    "PROVIDERS",
    "QUEUE",
    "ROLLOUT_SCENARIOS",
    "SCENARIOS",
    "SERVICE",
    "SPEC_PATH",
    "TRACKS",
    "create_app",
]

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
LOGGER = logging.getLogger("prompter")
ENV = "prod"
SERVICE = "prompter-api"
QUEUE = "prompter"
SCORE_TASK = "prompter.score_result"
PROVIDERS = ("openai", "google", "anthropic")
#: rollout track → the version it serves
TRACKS = {"baseline": "v6", "canary": "v7"}
MAX_PROMPT = 2000


@dataclass(frozen=True)
class Scenario:
    """How the simulated world behaves: provider failure rates, slow version lookups, task retries."""

    probe_failure: dict[str, float]
    provider_error: float  # share of prompt calls the provider fails (503)
    ensure_seconds: tuple[float, float]  # a version lookup that misses the cache
    cache_ttl: float  # seconds a version stays cached (0: no cache)
    retry_rate: float  # share of scoring task attempts that ask for a retry
    provider_seconds: tuple[float, float] = (0.002, 0.02)  # one prompt call to the provider
    resubmits: int = 0  # times each prompt arrives again (a client retrying): each one a unique violation
    redis_down: bool = False  # the app's own Redis (broker and queue state) is stopped


_HEALTHY_PROBES = {"openai": 0.02, "google": 0.05, "anthropic": 0.01}
SCENARIOS = {
    # the providers answer every prompt; a few probes fail
    "healthy": Scenario(_HEALTHY_PROBES, 0.0, (0.01, 0.08), 30.0, 0.05),
    # providers degrade: probes fail a third of the time, 10% of prompts answer 503
    "failure-spike": Scenario({"openai": 0.3, "google": 0.4, "anthropic": 0.3}, 0.10, (0.01, 0.08), 30.0, 0.2),
    # the version store is slow and the cache is off: ensure-version p95 goes past 3 s
    "slow": Scenario(_HEALTHY_PROBES, 0.0, (2.5, 4.0), 0.0, 0.05),
    # Redis (Celery's broker, the queue state) is down: scoring tasks are not queued, prompts are still answered
    "redis-down": Scenario(_HEALTHY_PROBES, 0.0, (0.01, 0.08), 30.0, 0.05, redis_down=True),
    # a client library retries every prompt five times (its timeout is shorter than the provider's answer)
    "retry-storm": Scenario(_HEALTHY_PROBES, 0.0, (0.01, 0.08), 30.0, 0.05, resubmits=5),
}
#: the scenarios the app plays by itself (``app.state.faults.scenario`` switches at runtime); scenarios.yaml says
#: what each fires
FAULT_SCENARIOS = tuple(SCENARIOS)
#: ``jobpulse demo --scenario`` names → this example's scenarios
DEMO_SCENARIOS = {"stall": "slow"}

# A rollout (``jobpulse demo prompt_rollout --scenario bad-canary``) runs one app per track, each in its own world.
# Version lookups are cheap and cached for long, so a canary's colder cache does not make it slower by itself.
# The provider call (40-150 ms) sets the latency, not the machine's load: its p95 falls inside the 0.1-0.25 s
# bucket, not on a bucket boundary, so the 100 % phase (judged against the preceding window) compares like with
# like; with calls of a few ms a loaded machine moved the p95 across the 50 ms boundary and failed a good canary.
_V6 = Scenario({"openai": 0.02, "google": 0.05, "anthropic": 0.01}, 0.001, (0.002, 0.01), 600.0, 0.05, (0.04, 0.15))
#: v7 regressed: its new prompt format makes the providers refuse 8% of calls (503) and answer 5x slower, and its
#: probes hit an endpoint that fails 15% of the time
_V7_BAD = Scenario({"openai": 0.15, "google": 0.15, "anthropic": 0.15}, 0.08, (0.002, 0.01), 600.0, 0.05, (0.2, 0.75))
#: rollout scenario → track → its world; the canary's differs from the baseline's only in ``bad-canary``
ROLLOUT_SCENARIOS = {
    "good-canary": {"baseline": _V6, "canary": _V6},
    "bad-canary": {"baseline": _V6, "canary": _V7_BAD},
}


class Faults:
    """The world the app runs in: a fault scenario, switched at runtime by setting ``scenario`` (redis-down stops
    and starts the app's own Redis through ``on_change``), or a rollout track's fixed world."""

    def __init__(self, scenario: str, world: Scenario) -> None:
        self._scenario, self.world = scenario, world
        self.on_change: list[Any] = []  # callables (old world, new world)

    @property
    def scenario(self) -> str:
        return self._scenario

    @scenario.setter
    def scenario(self, value: str) -> None:
        value = DEMO_SCENARIOS.get(value, value)
        if value not in SCENARIOS:
            raise ValueError(f"unknown fault scenario {value!r}; choose from {', '.join(SCENARIOS)}")
        old, self._scenario, self.world = self.world, value, SCENARIOS[value]
        for callback in list(self.on_change):
            callback(old, self.world)


class AppThreadPool(TaskPool):
    """Celery's thread pool, whose threads take the worker's app as their current one.

    ``jobpulse demo --scenario bad-canary`` runs the baseline and the canary in one process, each with its own
    Celery app and embedded worker. A pool thread finds a task by name in ``current_app``, the last app that
    started a worker, so without this both workers would run (and count) the canary's tasks; and a worker
    reuses the event loop (kombu's hub) of the one started before it, so the canary's delayed retries would
    never run: ``create_app`` clears it before starting its worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executor.shutdown()
        self.executor = ThreadPoolExecutor(max_workers=self.limit, initializer=self.app.set_current)


@dataclass
class Prompter:
    """What the lifespan starts and stops."""

    broker_url: str | None
    database_url: str | None
    workdir: Path | None = None
    own_workdir: bool = False
    redis: Any = None
    client: Any = None
    engine: sa.Engine | None = None
    celery: Celery | None = None
    worker: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    queue_state: QueueState | None = None
    stop_probes: threading.Event = field(default_factory=threading.Event)
    probes: threading.Thread | None = None
    versions: dict[int, tuple[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


METADATA = sa.MetaData()
RESULTS = sa.Table(
    "prompt_results",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prompt_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(32)),
    sa.Column("score", sa.Float),
    sa.UniqueConstraint("prompt_hash", "version", name="uq_prompt_version"),
)


def provider_fails(call: int, share: float) -> bool:
    """Whether the provider fails prompt call number ``call`` (from 1) when it fails ``share`` of them: evenly
    spread, exactly, rather than drawn at random (0.1 %: calls 1000, 2000, ...). With random draws at 0.1 %, a good
    canary once held about four errors in its 25 % phase's thousand requests (0.35 % against the baseline's
    0.115 %), a difference the canary judge rightly could not call equal nor confirm: the phase was inconclusive
    and the demo's good canary stopped instead of being promoted. Evenly spread, a track's thousand calls hold one."""
    return share > 0 and math.floor(call * share) > math.floor((call - 1) * share)


def make_celery(broker_url: str, telemetry: Telemetry, faults: Faults, rng: random.Random) -> Celery:
    """The Celery app, its scoring task and jobpulse's signal handlers (``prompter_task`` in the spec)."""
    from jobpulse.integrations.celery import instrument_celery

    celery = Celery("prompter", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )

    @celery.task(name=SCORE_TASK, bind=True, max_retries=3, shared=False)  # this app only
    def score_result(self: Any, result_id: int, time_scale: float = 1.0) -> float:
        time.sleep(rng.uniform(0.02, 0.2) * time_scale)
        if rng.random() < faults.world.retry_rate:
            raise self.retry(countdown=0.05)
        return rng.random()

    instrument_celery(celery, telemetry, job="prompter_task")
    return celery


def create_app(
    *,
    spec_path: Path = SPEC_PATH,
    registry: CollectorRegistry | None = None,
    broker_url: str | None = None,
    database_url: str | None = None,
    scenario: str = "healthy",
    track: str = "baseline",
    probe_interval: float = 1.0,
    queue_interval: float = 2.0,
    time_scale: float = 1.0,
    workdir: Path | None = None,
    seed: int | None = None,
    dogstatsd: tuple[str, int] | None = None,
    **_: Any,
) -> Starlette:
    """The API. Without ``broker_url`` a private Redis is started on loopback (needs redis-server).

    With ``dogstatsd=(host, port)`` every metric update also goes to that DogStatsD server (a Datadog agent;
    ``jobpulse demo`` passes a local listener), with the spec's Datadog names and the track's version tag.
    """
    scenario = DEMO_SCENARIOS.get(scenario, scenario)
    if scenario not in SCENARIOS and scenario not in ROLLOUT_SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join([*SCENARIOS, *ROLLOUT_SCENARIOS])}")
    if track not in TRACKS:
        raise ValueError(f"track must be one of {', '.join(TRACKS)}")
    faults = Faults(
        scenario, ROLLOUT_SCENARIOS[scenario][track] if scenario in ROLLOUT_SCENARIOS else SCENARIOS[scenario]
    )
    version = TRACKS[track]
    sinks = []
    if dogstatsd is not None:
        from jobpulse.runtime.dogstatsd import DogStatsdSink
        from jobpulse.spec.load import load_spec

        host, port = dogstatsd
        sinks.append(DogStatsdSink(load_spec(spec_path), host=host, port=port, constant_tags=[f"version:{version}"]))
    telemetry = Telemetry.from_file(
        spec_path, registry=CollectorRegistry() if registry is None else registry, sinks=sinks
    )
    prompter = Prompter(broker_url, database_url)
    rng = random.Random(seed)
    provider_calls = itertools.count(1)  # next() is atomic: the handlers run in worker threads
    m = telemetry.metric

    def ensure_version(template: int) -> str:
        """The prompt template's current version, from the cache or the (slow) version store."""
        started = time.perf_counter()
        m("prompter_version_lookups_total").inc()
        now = time.monotonic()
        with prompter.lock:
            cached = prompter.versions.get(template)
        world = faults.world
        if cached is not None and now - cached[1] < world.cache_ttl:
            m("prompter_version_cache_hits_total").inc()
        else:
            time.sleep(rng.uniform(*world.ensure_seconds) * time_scale)
            with prompter.lock:
                prompter.versions[template] = (version, now)
        m("prompter_ensure_version_seconds").observe(time.perf_counter() - started, env=ENV)
        return version

    def store(prompt: str, provider: str) -> tuple[int, bool]:
        """Insert the result; (id, False) when the unique constraint says it is already there."""
        assert prompter.engine is not None
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        fingerprint = f"fp_{rng.getrandbits(40):010x}" if provider == "openai" and rng.random() < 0.8 else None
        try:
            with prompter.engine.begin() as conn:
                row = conn.execute(
                    RESULTS.insert().values(
                        prompt_hash=digest, version=version, provider=provider, fingerprint=fingerprint
                    )
                )
                result_id = int(row.inserted_primary_key[0])
        except sa.exc.IntegrityError:
            m("prompter_db_unique_violation_total").inc(env=ENV)
            with prompter.engine.connect() as conn:
                found = conn.execute(
                    sa.select(RESULTS.c.id).where(RESULTS.c.prompt_hash == digest, RESULTS.c.version == version)
                ).scalar_one()
            return int(found), False
        m("prompter_prompt_results_insert_total").inc(env=ENV)
        if fingerprint is not None:
            m("prompter_openai_fingerprint_present_total").inc(env=ENV)
        return result_id, True

    def handle_prompt(prompt: str, provider: str) -> tuple[int, dict[str, Any]]:
        world = faults.world
        ensure_version(int(hashlib.sha256(prompt.encode()).hexdigest()[:4], 16) % 40)
        time.sleep(rng.uniform(*world.provider_seconds) * time_scale)  # the provider call
        if provider_fails(next(provider_calls), world.provider_error):
            return 503, {"error": f"{provider} is unavailable"}
        result_id, inserted = store(prompt, provider)
        for _ in range(world.resubmits):  # retry-storm: the same prompt again, each a unique violation
            store(prompt, provider)
        if inserted:
            assert prompter.celery is not None
            try:
                prompter.celery.send_task(SCORE_TASK, args=[result_id], kwargs={"time_scale": time_scale}, queue=QUEUE)
            except Exception as exc:  # the broker is down: the result is stored, its scoring is not queued
                LOGGER.warning("result %s not queued for scoring: %s", result_id, type(exc).__name__)
        return (201 if inserted else 200), {"result_id": result_id, "version": version, "deduplicated": not inserted}

    async def prompts(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            payload = None
        prompt = payload.get("prompt") if isinstance(payload, dict) else None
        provider = payload.get("provider", "openai") if isinstance(payload, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
            return JSONResponse({"error": f"`prompt`: a non-empty string of at most {MAX_PROMPT} characters"}, 422)
        if provider not in PROVIDERS:
            return JSONResponse({"error": f"`provider`: one of {', '.join(PROVIDERS)}"}, 422)
        status, body = await anyio.to_thread.run_sync(handle_prompt, prompt, provider)
        return JSONResponse(body, status_code=status)

    async def result(request: Request) -> JSONResponse:
        result_id = request.path_params["result_id"]

        def read() -> Any:
            assert prompter.engine is not None
            with prompter.engine.connect() as conn:
                return conn.execute(sa.select(RESULTS).where(RESULTS.c.id == result_id)).mappings().first()

        row = await anyio.to_thread.run_sync(read)
        if row is None:
            return JSONResponse({"error": f"no result {result_id}"}, 404)
        return JSONResponse({k: row[k] for k in ("id", "version", "provider", "fingerprint")})

    async def info(request: Request) -> JSONResponse:
        body = {"service": SERVICE, "env": ENV, "track": track, "version": version, "scenario": faults.scenario}
        return JSONResponse(body)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def probe_loop() -> None:
        while not prompter.stop_probes.wait(probe_interval):
            for provider in PROVIDERS:
                m("prompter_probe_attempts_total").inc(provider=provider, env=ENV)
                if rng.random() < faults.world.probe_failure[provider]:
                    m("prompter_probe_failures_total").inc(provider=provider, env=ENV)

    def start() -> None:
        prompter.own_workdir = workdir is None
        prompter.workdir = Path(tempfile.mkdtemp(prefix="prompt-rollout-")) if workdir is None else Path(workdir)
        prompter.workdir.mkdir(parents=True, exist_ok=True)
        if prompter.broker_url is None:
            from jobpulse.verify.datastores import RedisServer

            prompter.redis = RedisServer(workdir=prompter.workdir / "redis").start()
            prompter.broker_url = prompter.redis.url
        url = prompter.database_url or f"sqlite:///{prompter.workdir / 'prompter.db'}"
        prompter.engine = sa.create_engine(url)
        METADATA.create_all(prompter.engine)
        prompter.celery = make_celery(prompter.broker_url, telemetry, faults, rng)
        from celery.contrib.testing.worker import start_worker
        from kombu.asynchronous import set_event_loop

        set_event_loop(None)  # a worker of its own event loop: see AppThreadPool
        prompter.worker.enter_context(
            start_worker(
                prompter.celery,
                pool=AppThreadPool,
                concurrency=2,
                perform_ping_check=False,
                shutdown_timeout=10,
                loglevel="WARNING",
            )
        )
        prompter.queue_state = QueueState(
            prompter.broker_url,
            celery=[QUEUE],
            interval=queue_interval,
            registry=telemetry.registry,
            telemetry=telemetry,
            labels={"env": ENV},
            names={"depth": "celery_queue_depth", "redis_up": "prompter_redis_up"},
        ).start()
        prompter.probes = threading.Thread(target=probe_loop, name="prompter-probes", daemon=True)
        prompter.probes.start()
        faults.on_change.append(switch_redis)
        if faults.world.redis_down:  # started in redis-down (jobpulse demo --scenario redis-down)
            switch_redis(SCENARIOS["healthy"], faults.world)

    def switch_redis(old: Scenario, new: Scenario) -> None:
        """redis-down: stop the app's own Redis (as a crash would), start it again when the scenario ends."""
        if prompter.redis is None or old.redis_down == new.redis_down:
            return
        if new.redis_down:
            prompter.redis.kill()
        else:
            prompter.redis.start()

    def stop() -> None:
        if switch_redis in faults.on_change:
            faults.on_change.remove(switch_redis)
        if prompter.redis is not None and not prompter.redis.running:
            prompter.redis.start()  # back for the worker's shutdown
        prompter.stop_probes.set()
        if prompter.probes is not None:
            prompter.probes.join(timeout=5)
        if prompter.queue_state is not None:
            prompter.queue_state.stop()
        prompter.worker.close()
        if prompter.celery is not None:
            prompter.celery.close()
        if prompter.engine is not None:
            prompter.engine.dispose()
        for sink in sinks:
            sink.close()
        if prompter.redis is not None:
            prompter.redis.stop()
        if prompter.own_workdir and prompter.workdir is not None:
            shutil.rmtree(prompter.workdir, ignore_errors=True)

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
        Route("/v1/prompts", prompts, methods=["POST"]),
        Route("/v1/results/{result_id:int}", result, methods=["GET"]),
        Route("/v1/info", info, methods=["GET"]),
        Route("/metrics", telemetry.metrics_app()),
        Route("/health", health, methods=["GET"]),
    ]
    middleware = [
        Middleware(CorrelationMiddleware),
        Middleware(
            MetricsMiddleware.from_telemetry,
            telemetry=telemetry,
            requests="starlette_requests_total",
            duration="starlette_requests_processing_seconds",
            constant_labels={"env": ENV, "service": SERVICE},
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.telemetry = telemetry
    app.state.registry = telemetry.registry
    app.state.prompter = prompter
    app.state.faults = faults
    app.state.track = track
    return app
