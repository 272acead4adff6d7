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
from jobpulse.verify.timescale import SpeedClock

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
#: per fault scenario: OpenAI error rate, render failure rate, cost multiplier, whether tasks hang (``backlog``:
#: every worker slot is held by a task stuck on the renderer until the scenario ends, so the queues back up)
SCENARIOS: dict[str, tuple[float, float, float, bool]] = {
    "healthy": (0.001, 0.0005, 1.0, False),
    "error-spike": (0.15, 0.1, 1.0, False),
    "cost-spike": (0.001, 0.0005, 3.0, False),
    "backlog": (0.001, 0.0005, 1.0, True),
}
#: the cost windows of seed 002's gauges (``time_window``): current spend over each, and its baseline
COST_WINDOWS = {"5m": 300.0, "1h": 3600.0, "24h": 86400.0}
#: a baseline is published once the worker has this many windows of history (the last day at most)
BASELINE_WINDOWS = 3


class RateLimitError(Exception):
    """Simulated OpenAI 429."""


class APITimeoutError(Exception):
    """Simulated OpenAI timeout."""


class RenderFailed(Exception):
    """The renderer gave up on the scene."""


class ConversionError(Exception):
    """The AR converter rejected the model."""


class CostWindow:
    """This process's AI spend: seed 002's ``luneo_ai_cost_current_cents`` and ``luneo_ai_cost_baseline_cents``.

    For each ``time_window`` (5m, 1h, 24h): ``current`` is the spend in the last window; ``baseline`` the average
    spend per window over the history before it (the last day at most, "calculated from historical average").
    Until there are ``BASELINE_WINDOWS`` windows of history before the current one there is nothing to compare
    with, and the baseline is the current spend itself: a worker that just started never makes CostSpikeDetected
    fire, alone or summed with older workers. Prometheus sums the
    workers' gauges (multi-process ``livesum``). ``refresh()`` sets them; the worker calls it twice a second.
    """

    #: spend is kept per slot of this many (virtual) seconds: two days are 34,560 slots however busy the worker
    SLOT = 5.0

    def __init__(self, telemetry: Telemetry, clock: Any = time.time) -> None:
        self.current = telemetry.metric("luneo_ai_cost_current_cents")
        self.baseline = telemetry.metric("luneo_ai_cost_baseline_cents")
        self.clock = clock
        self.started = clock()
        self.entries: deque[list[float]] = deque()  # [slot start, cents spent in the slot]
        self.lock = threading.Lock()
        for window in COST_WINDOWS:
            self.current.set(0.0, time_window=window)

    def add(self, cents: float) -> None:
        slot = self.clock() // self.SLOT * self.SLOT
        with self.lock:
            if self.entries and self.entries[-1][0] == slot:
                self.entries[-1][1] += cents
            else:
                self.entries.append([slot, cents])

    def refresh(self) -> None:
        now = self.clock()
        with self.lock:
            while self.entries and self.entries[0][0] < now - 2 * 86400:
                self.entries.popleft()
            entries = list(self.entries)
        for window, seconds in COST_WINDOWS.items():
            current = sum(c for t, c in entries if t >= now - seconds)
            self.current.set(current, time_window=window)
            # history: the day before the current window (or since the start, when that is shorter)
            since = max(self.started, now - seconds - 86400)
            history = now - seconds - since
            if history >= BASELINE_WINDOWS * seconds or history >= 86400:
                spent = sum(c for t, c in entries if since <= t < now - seconds)
                self.baseline.set(spent / history * seconds, time_window=window)
            else:  # no history to compare with yet: the current spend is its own baseline, never a spike
                self.baseline.set(current, time_window=window)


class Simulation:
    """The fake OpenAI and renderer; the fault scenario is read from Redis, so the web app can change it."""

    def __init__(
        self,
        telemetry: Telemetry,
        redis: Any,
        *,
        time_scale: float,
        rng: random.Random,
        clock: SpeedClock | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.redis = redis
        self.time_scale = time_scale
        self.rng = rng
        #: the worker's time: simulated work sleeps on it and the metrics measure with it (tests run it faster)
        self.clock = clock or SpeedClock()
        self.cost = CostWindow(telemetry, clock=self.clock.time)
        self._scenario = ("healthy", 0.0)

    def work(self, seconds: float) -> None:
        """Simulated work: ``seconds`` of the worker's time."""
        time.sleep(self.clock.real(seconds * self.time_scale))

    def hang_while_backlogged(self) -> None:
        """In ``backlog`` the renderer does not answer: the task holds its worker slot until the scenario ends."""
        while self.scenario()[3]:
            time.sleep(0.05)

    def scenario(self) -> tuple[float, float, float, bool]:
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
        started = self.clock.monotonic()
        self.work(seconds)
        error: Exception | None = None
        roll = self.rng.random()
        if roll < error_rate * 0.7:
            error = RateLimitError("429 Too Many Requests")
        elif roll < error_rate:
            error = APITimeoutError("request timed out")
        status = "error" if error else "success"
        t.metric("luneo_openai_request_duration_seconds").observe(
            self.clock.monotonic() - started, model=model, operation=operation, status=status
        )
        if error is not None:
            t.metric("luneo_openai_requests_error_total").inc(
                model=model, operation=operation, error_type=type(error).__name__
            )
            raise error
        if self.clock.time() - self.cost.started < BASELINE_WINDOWS * COST_WINDOWS["5m"]:
            cost_factor = 1.0  # a spike needs a baseline to stand out from: it starts after 15 minutes
        spent = cents * cost_factor
        t.metric("luneo_openai_cost_cents").inc(spent, model=model, operation=operation)
        self.cost.add(spent)


def make_celery(
    broker: str, telemetry: Telemetry, simulation: Simulation | None = None, *, clock: SpeedClock | None = None
) -> Celery:
    """The Celery app, instrumented for both jobs; with ``simulation`` its tasks can run here. ``clock`` stamps the
    publish times and measures queue waits and durations (the simulation's clock when given)."""
    clock = simulation.clock if simulation is not None else clock or SpeedClock()
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
        app,
        telemetry,
        job="render",
        include=lambda name: name == RENDER_TASK,
        errors="luneo_renders_error_total",
        clock=clock.time,
    )
    instrument_celery(
        app,
        telemetry,
        job="ar_conversion",
        include=lambda name: name == AR_TASK,
        errors="luneo_ar_conversions_error_total",
        clock=clock.time,
    )
    if simulation is None:
        return app
    sim = simulation

    @app.task(name=RENDER_TASK, shared=False)
    def render(render_type: str = "product_2d", quality: str = "standard") -> str:
        sim.hang_while_backlogged()
        fail_rate = sim.scenario()[1]
        sim.openai("gpt-4o-mini", "prompt_enhancement", ENHANCE_PRICE_CENTS, sim.rng.uniform(0.05, 0.2))
        sim.openai("dall-e-3", "image_generation", IMAGE_PRICE_CENTS.get(quality, 4.0), sim.rng.uniform(0.2, 0.8))
        sim.work(sim.rng.uniform(0.1, 0.5))
        if sim.rng.random() < fail_rate:
            raise RenderFailed("scene could not be rendered")
        return f"{render_type}/{quality}"

    @app.task(name=AR_TASK, shared=False)
    def ar_convert(conversion_type: str = "glb_to_usdz") -> str:
        sim.hang_while_backlogged()
        fail_rate = sim.scenario()[1]
        sim.work(sim.rng.uniform(0.1, 0.4))
        if sim.rng.random() < fail_rate * 2:
            raise ConversionError("unsupported material")
        return conversion_type

    del render, ar_convert
    return app


def _refresh_costs(cost: CostWindow, every: float = 0.5) -> None:  # pragma: no cover - worker subprocess
    while True:
        time.sleep(every)
        cost.refresh()


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
        clock=SpeedClock.from_env(),  # the web process's clock ($JOBPULSE_DEMO_CLOCK)
    )
    app = make_celery(broker, telemetry, simulation)
    # the cost gauges follow the clock, also while nothing is spent (a backlog, a quiet hour)
    threading.Thread(target=_refresh_costs, args=(simulation.cost,), name="cost-windows", daemon=True).start()
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
