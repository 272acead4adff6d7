"""The render pipeline's Celery side (seed 002's "worker-ia"): tasks, a simulated OpenAI, the cost window.

Run by ``app.py`` as separate processes, one ``celery worker`` (threads pool) each::

    python examples/render_pipeline/worker.py      # env: RENDER_PIPELINE_BROKER, RENDER_PIPELINE_METRICS_DIR, ...

The workers write their metrics in jobpulse's multi-process mode (:mod:`jobpulse.runtime.multiprocess`) to one
directory, which the web process serves merged at ``/metrics/workers`` — one scrape for every worker of the
host, however often workers restart. The Celery integration (:func:`jobpulse.integrations.celery.instrument_celery`)
turns the tasks into the spec's ``render`` and ``ar_conversion`` jobs; the OpenAI and cost metrics are
recorded with plain ``telemetry.metric(...)`` calls.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry

from jobpulse import Telemetry
from jobpulse.integrations.celery import instrument_celery

SPEC_PATH = Path(__file__).with_name("jobpulse.yaml")
RENDER_TASK = "luneo.render"
AR_TASK = "luneo.ar_convert"
QUEUES = ("renders", "ar_conversions")
#: multi-process merge modes: every worker's share of the cost adds up (``sum`` also keeps a dead worker's
#: running total, as a counter's would be kept); the windows of live workers add up
GAUGE_MODES = {
    "luneo_openai_cost_cents": "sum",
    "luneo_ai_cost_current_cents": "livesum",
    "luneo_ai_cost_baseline_cents": "livesum",
}
SCENARIO_KEY = "render_pipeline:scenario"
#: cents per request, by (model, quality); prompt enhancement is a flat fraction of a cent
IMAGE_PRICE_CENTS = {"draft": 2.0, "standard": 4.0, "hd": 8.0}
ENHANCE_PRICE_CENTS = 0.1
#: per fault scenario: OpenAI error rate, render failure rate, cost multiplier, render time multiplier
SCENARIOS: dict[str, tuple[float, float, float, float]] = {
    "healthy": (0.005, 0.002, 1.0, 1.0),
    "error-spike": (0.15, 0.1, 1.0, 1.0),
    "cost-spike": (0.005, 0.002, 3.0, 1.0),
    "backlog": (0.005, 0.002, 1.0, 8.0),
}


class RateLimitError(Exception):
    """Simulated OpenAI 429."""


class APITimeoutError(Exception):
    """Simulated OpenAI timeout."""


class RenderFailed(Exception):
    """The renderer gave up on the scene."""


class ConversionError(Exception):
    """The AR converter rejected the model."""


class CostWindow:
    """This process's AI spend over the last day: the seed's current/baseline gauges per time window.

    ``current{1h}`` is the spend in the last hour; ``baseline{1h}`` the average hourly spend over the last
    24 hours (or since the process started, if sooner); ``current{24h}`` the last 24 hours' spend and
    ``baseline{24h}`` that extrapolated to a full day. Prometheus sums them over the workers.
    """

    def __init__(self, telemetry: Telemetry, clock: Any = time.time) -> None:
        self.current = telemetry.metric("luneo_ai_cost_current_cents")
        self.baseline = telemetry.metric("luneo_ai_cost_baseline_cents")
        self.clock = clock
        self.started = clock()
        self.entries: deque[tuple[float, float]] = deque()
        self.lock = threading.Lock()

    def add(self, cents: float) -> None:
        now = self.clock()
        with self.lock:
            self.entries.append((now, cents))
            while self.entries and self.entries[0][0] < now - 86400:
                self.entries.popleft()
            day = sum(c for _, c in self.entries)
            hour = sum(c for t, c in self.entries if t >= now - 3600)
        hours = max(1.0, min(24.0, (now - self.started) / 3600))
        self.current.set(hour, time_window="1h")
        self.baseline.set(day / hours, time_window="1h")
        self.current.set(day, time_window="24h")
        self.baseline.set(day / hours * 24, time_window="24h")


class Simulation:
    """The fake OpenAI and renderer; the fault scenario is read from Redis, so the web app can change it."""

    def __init__(self, telemetry: Telemetry, redis: Any, *, time_scale: float, rng: random.Random) -> None:
        self.telemetry = telemetry
        self.redis = redis
        self.time_scale = time_scale
        self.rng = rng
        self.cost = CostWindow(telemetry)
        self._scenario = ("healthy", 0.0)

    def scenario(self) -> tuple[float, float, float, float]:
        name, checked = self._scenario
        if time.monotonic() - checked > 0.5:
            try:
                raw = self.redis.get(SCENARIO_KEY)
                name = raw.decode() if raw else "healthy"
            except Exception:
                name = "healthy"
            self._scenario = (name, time.monotonic())
        return SCENARIOS.get(name, SCENARIOS["healthy"])

    def openai(self, model: str, operation: str, cents: float, seconds: float) -> None:
        """One OpenAI request: latency, outcome, errors by class and cost (seed 002's luneo_openai_*)."""
        error_rate, _, cost_factor, _ = self.scenario()
        t = self.telemetry
        t.metric("luneo_openai_requests_total").inc(model=model, operation=operation)
        started = time.perf_counter()
        time.sleep(seconds * self.time_scale)
        error: Exception | None = None
        roll = self.rng.random()
        if roll < error_rate * 0.7:
            error = RateLimitError("429 Too Many Requests")
        elif roll < error_rate:
            error = APITimeoutError("request timed out")
        status = "error" if error else "success"
        t.metric("luneo_openai_request_duration_seconds").observe(
            time.perf_counter() - started, model=model, operation=operation, status=status
        )
        if error is not None:
            t.metric("luneo_openai_requests_error_total").inc(
                model=model, operation=operation, error_type=type(error).__name__
            )
            raise error
        spent = cents * cost_factor
        t.metric("luneo_openai_cost_cents").inc(spent, model=model, operation=operation)
        self.cost.add(spent)


def make_celery(broker: str, telemetry: Telemetry, simulation: Simulation | None = None) -> Celery:
    """The Celery app, instrumented for both jobs; with ``simulation`` its tasks can run here."""
    app = Celery("render_pipeline", broker=broker, set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        task_routes={RENDER_TASK: {"queue": "renders"}, AR_TASK: {"queue": "ar_conversions"}},
    )
    instrument_celery(
        app, telemetry, job="render", include=lambda name: name == RENDER_TASK, errors="luneo_renders_error_total"
    )
    instrument_celery(
        app,
        telemetry,
        job="ar_conversion",
        include=lambda name: name == AR_TASK,
        errors="luneo_ar_conversions_error_total",
    )
    if simulation is None:
        return app
    sim = simulation

    @app.task(name=RENDER_TASK, shared=False)
    def render(render_type: str = "product_2d", quality: str = "standard") -> str:
        _, fail_rate, _, slow = sim.scenario()
        sim.openai("gpt-4o-mini", "prompt_enhancement", ENHANCE_PRICE_CENTS, sim.rng.uniform(0.05, 0.2))
        sim.openai("dall-e-3", "image_generation", IMAGE_PRICE_CENTS.get(quality, 4.0), sim.rng.uniform(0.2, 0.8))
        time.sleep(sim.rng.uniform(0.1, 0.5) * slow * sim.time_scale)
        if sim.rng.random() < fail_rate:
            raise RenderFailed("scene could not be rendered")
        return f"{render_type}/{quality}"

    @app.task(name=AR_TASK, shared=False)
    def ar_convert(conversion_type: str = "glb_to_usdz") -> str:
        _, fail_rate, _, slow = sim.scenario()
        time.sleep(sim.rng.uniform(0.1, 0.4) * slow * sim.time_scale)
        if sim.rng.random() < fail_rate * 2:
            raise ConversionError("unsupported material")
        return conversion_type

    del render, ar_convert
    return app


def main() -> None:  # pragma: no cover - runs in the worker subprocesses (tests/examples/test_render_pipeline.py)
    broker = os.environ["RENDER_PIPELINE_BROKER"]
    spec = Path(os.environ.get("RENDER_PIPELINE_SPEC", str(SPEC_PATH)))
    from jobpulse.runtime import multiprocess

    # before any metric is made: this process's samples go to the shared directory's files
    multiprocess.setup_multiprocess(os.environ["RENDER_PIPELINE_METRICS_DIR"], modes=GAUGE_MODES)
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(spec, registry=registry)
    from jobpulse.integrations.redis import sync_client

    redis = sync_client(broker)
    seed = os.environ.get("RENDER_PIPELINE_SEED")
    simulation = Simulation(
        telemetry,
        redis,
        time_scale=float(os.environ.get("RENDER_PIPELINE_TIME_SCALE", "1.0")),
        rng=random.Random(int(seed) if seed else None),
    )
    app = make_celery(broker, telemetry, simulation)
    ready_file = os.environ.get("RENDER_PIPELINE_READY_FILE")
    if ready_file:
        Path(ready_file).write_text(str(os.getpid()))
    name = os.environ.get("RENDER_PIPELINE_WORKER_NAME", "render")
    app.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            os.environ.get("RENDER_PIPELINE_CONCURRENCY", "2"),
            "--queues",
            ",".join(QUEUES),
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            os.environ.get("RENDER_PIPELINE_LOGLEVEL", "WARNING"),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ]
    )
    multiprocess.mark_process_dead(os.getpid(), exiting_self=True)  # drop this process's live gauges


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
