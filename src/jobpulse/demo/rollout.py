"""A rollout played by ``jobpulse demo EXAMPLE --scenario good-canary|bad-canary``: its phases, compressed in time.

What Prometheus sees is what it sees in a real rollout: two deployments of the example's app, the baseline and the
canary, each its own scrape target with the rollout's label (``track="baseline"`` / ``track="canary"``), and one
stream of traffic split between them by the phase's weight, as a load balancer or a service mesh splits it. Both
tracks are freshly deployed, so both are warmed up first (the example's ``workload.warm_up``), outside any judged
window.

The demo plays the spec's phases in order (5 %, 25 %, 100 % in seed 003). Each lasts ``min_duration / speed`` (at
least :data:`MIN_PHASE_SAMPLES` samples), judged on one sample per :data:`SAMPLE_SECONDS`, with ``min_events``
scaled to the same events per second. While a phase runs, ``jobpulse canary``'s own judgement
(:func:`~jobpulse.canary.fetch.judge_phase`) of the phase so far is asked for every sample and shown per metric; at
its end the phase is judged once more: **pass** shifts the traffic to the next phase, **fail** rolls the canary
back (no traffic), **inconclusive** keeps the phase running once more and then stops the rollout, as a pipeline
gating on the exit code would.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from jobpulse.canary.fetch import judge_phase
from jobpulse.canary.judge import FAIL, INCONCLUSIVE, PASS, MetricVerdict, PhaseVerdict, format_difference, format_value
from jobpulse.canary.report import render_text
from jobpulse.prometheus_api import PrometheusAPI, PrometheusAPIError
from jobpulse.spec.rollout import Phase, Rollout

__all__ = [
    "DEFAULT_SPEED",
    "MIN_PHASE_SAMPLES",
    "RATE_PER_SECOND",
    "SAMPLE_SECONDS",
    "PhaseRecord",
    "RolloutDriver",
    "TrafficSplit",
    "compress_rollout",
    "render_rollout",
    "rollout_status_line",
    "rollout_summary_lines",
]

#: one sample per side every this many seconds (six scrapes: the demo scrapes every 500 ms); at 5 % of the
#: workload's traffic that is about 5 requests a sample on the canary
SAMPLE_SECONDS = 3.0
SCRAPE_INTERVAL = "500ms"
#: a phase lasts at least this many samples, so Mann-Whitney U has enough to say something
MIN_PHASE_SAMPLES = 15
#: 30 minutes in 30 seconds (45 at least: 15 samples), unless ``--speed`` says otherwise
DEFAULT_SPEED = 60.0
#: requests per second the workload sends to both tracks together
RATE_PER_SECOND = 60.0
#: how long after a phase's end its last sample is surely scraped
SETTLE_SECONDS = 1.5


def compress_rollout(rollout: Rollout, speed: float) -> Rollout:
    """The rollout as the demo plays it: phases ``speed`` times shorter, the same events per second."""
    interval = max(SAMPLE_SECONDS, rollout.interval_seconds / speed)
    phases = []
    for phase in rollout.phases:
        seconds = max(phase.min_duration_seconds / speed, MIN_PHASE_SAMPLES * interval)
        seconds = math.ceil(seconds / interval) * interval
        events = max(1, math.ceil(phase.min_events * seconds / phase.min_duration_seconds))
        phases.append(replace(phase, min_duration=f"{seconds:g}s", min_duration_seconds=seconds, min_events=events))
    return replace(rollout, interval=f"{interval:g}s", interval_seconds=interval, phases=tuple(phases))


class TrafficSplit(httpx.AsyncBaseTransport):
    """Sends each request to the canary with probability ``weight`` % and to the baseline otherwise."""

    def __init__(self, baseline: str, canary: str, *, seed: int | None = None) -> None:
        self.targets = {"baseline": httpx.URL(baseline), "canary": httpx.URL(canary)}
        self.weight = 0.0
        self.sent = {"baseline": 0, "canary": 0}
        self._rng = random.Random(seed)  # noqa: S311 - a traffic split, not a secret
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        side = "canary" if self._rng.random() * 100 < self.weight else "baseline"
        target = self.targets[side]
        request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        self.sent[side] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class PhaseRecord:
    """A phase as it was played: when, and the verdict at its end (None while it runs)."""

    phase: Phase
    started: float
    verdict: PhaseVerdict | None = None
    extended: bool = False


@dataclass
class RolloutDriver:
    """Plays the phases: shifts the traffic, asks for the verdict every sample, promotes or rolls back."""

    rollout: Rollout
    split: TrafficSplit
    api: PrometheusAPI
    clock: Callable[[], float] = time.time
    records: list[PhaseRecord] = field(default_factory=list)
    live: PhaseVerdict | None = None
    state: str = "starting"  # starting | running | promoted | rolled back | stopped
    error: str | None = None
    #: every verdict seen (live and final), for the summary and the tests: (phase, verdict)
    seen: list[tuple[str, str]] = field(default_factory=list)

    @property
    def current(self) -> PhaseRecord | None:
        return self.records[-1] if self.records else None

    @property
    def final(self) -> PhaseVerdict | None:
        """The last phase's verdict at its end, else the latest live verdict."""
        for record in reversed(self.records):
            if record.verdict is not None:
                return record.verdict
        return self.live

    @property
    def finished(self) -> bool:
        return self.state in ("promoted", "rolled back", "stopped")

    def _judge(self, record: PhaseRecord, at: float) -> PhaseVerdict | None:
        if at - record.started < self.rollout.interval_seconds:
            return None
        try:
            verdict = judge_phase(self.api, self.rollout, record.phase, at, since=record.started)
        except PrometheusAPIError as exc:
            self.error = f"cannot judge the canary: {exc}"
            return None
        self.error = None
        self.seen.append((record.phase.name, verdict.verdict))
        return verdict

    async def run(self, stop: asyncio.Event) -> None:
        """Every phase in turn until one fails, the rollout is promoted, or ``stop`` is set."""
        for phase in self.rollout.phases:
            record = PhaseRecord(phase, self.clock())
            self.records.append(record)
            self.split.weight = phase.weight
            self.state, self.live = "running", None
            end = record.started + phase.min_duration_seconds
            while True:
                now = self.clock()
                if now >= end + SETTLE_SECONDS:
                    record.verdict = await asyncio.to_thread(self._judge, record, end)
                    if record.verdict is None or record.verdict.verdict != INCONCLUSIVE or record.extended:
                        break
                    record.extended = True  # inconclusive: give the phase as long again, once
                    end += phase.min_duration_seconds
                    continue
                live = await asyncio.to_thread(self._judge, record, now - SETTLE_SECONDS)
                if live is not None:
                    self.live = live
                if await _wait(stop, min(SAMPLE_SECONDS, max(0.05, end + SETTLE_SECONDS - self.clock()))):
                    self.state = "stopped"
                    return
            verdict = record.verdict
            if verdict is not None and verdict.verdict == FAIL:
                self.split.weight = 0.0
                self.state = "rolled back"
                return
            if verdict is None or verdict.verdict != PASS:
                self.state = "stopped"
                return
        self.state = "promoted"


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True when it is set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return event.is_set()
    return True


# -- what the view shows --------------------------------------------------------------------------------------------
_STYLE = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow"}


def _state(driver: RolloutDriver) -> str:
    record = driver.current
    if record is None:
        return "waiting for the apps and Prometheus"
    phase = record.phase
    if driver.state == "running":
        elapsed = min(driver.clock() - record.started, phase.min_duration_seconds * (2 if record.extended else 1))
        extended = ", extended once (inconclusive)" if record.extended else ""
        return (
            f"phase {phase.name}: {phase.weight:g}% of the traffic on the canary, "
            f"{elapsed:.0f}s of {phase.min_duration_seconds:.0f}s{extended}"
        )
    if driver.state == "rolled back":
        return f"rolled back in phase {phase.name}: the canary gets no traffic"
    if driver.state == "promoted":
        return "promoted: every phase passed, the canary serves all the traffic"
    return f"stopped in phase {phase.name}"


def _metric_row(m: MetricVerdict) -> list[RenderableType]:
    metric = m.metric
    difference = "" if m.difference is None else format_difference(metric, m.difference)
    allowed = "" if m.tolerance is None else format_difference(metric, m.tolerance)
    p = "" if m.test is None else f"{m.test.p_value:.2g}"
    return [
        metric.name + (" *" if metric.critical else ""),
        Text(m.verdict, style=_STYLE[m.verdict]),
        f"{format_value(metric, m.canary.value)} ({m.canary.events:,.0f})",
        f"{format_value(metric, m.baseline.value)} ({m.baseline.events:,.0f})",
        difference,
        allowed,
        p,
    ]


def render_rollout(driver: RolloutDriver) -> RenderableType:
    """The rollout's panel: the phases so far and the live verdict per metric."""
    verdict = driver.live if driver.state == "running" else driver.final
    title = f"rollout {driver.rollout.name} · {_state(driver)}"
    table = Table(title=title, title_justify="left", min_width=72)
    for column, justify in (
        ("metric (* critical)", "left"),
        ("verdict", "left"),
        ("canary (events)", "right"),
        ("baseline (events)", "right"),
        ("difference", "right"),
        ("allowed", "right"),
        ("p", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    if verdict is None:
        table.add_row(*(["…"] * 7))
    else:
        for m in verdict.metrics:
            table.add_row(*_metric_row(m))
    parts: list[RenderableType] = [table]
    phases = "  ".join(
        f"{r.phase.name} {r.phase.weight:g}%: {r.verdict.verdict if r.verdict else 'running'}" for r in driver.records
    )
    if phases:
        parts.append(Text(f"phases   {phases}", style="dim"))
    if verdict is not None:
        parts.append(Text(f"verdict  {verdict.verdict}: {verdict.reason}", style=_STYLE[verdict.verdict]))
    if driver.error:
        parts.append(Text(driver.error, style="red"))
    return Group(*parts)


def rollout_status_line(driver: RolloutDriver) -> str:
    """One line for a log (no terminal): the state and each metric's live verdict."""
    verdict = driver.live if driver.state == "running" else driver.final
    metrics = " ".join(f"{m.metric.name}={m.verdict}" for m in verdict.metrics) if verdict else "no verdict yet"
    return f"rollout {driver.rollout.name}: {_state(driver)}; {metrics}"


def rollout_summary_lines(driver: RolloutDriver, speed: float) -> list[str]:
    """The summary: every phase's verdict and the final one, with the numbers behind it."""
    lines = [
        f"Rollout {driver.rollout.name} ({speed:g}x faster: one sample per {driver.rollout.interval}): {driver.state}",
        f"  traffic sent: baseline {driver.split.sent['baseline']}, canary {driver.split.sent['canary']}",
    ]
    for record in driver.records:
        state = record.verdict.verdict if record.verdict else "not finished"
        lines.append(f"  phase {record.phase.name} ({record.phase.weight:g}%, {record.phase.min_duration}): {state}")
    final = driver.final
    if final is None:
        lines.append("  final verdict: none (the demo ended before the first sample)")
        return lines
    lines.append(f"  final verdict: {final.verdict.upper()} - {final.reason}")
    lines += ["  " + line for line in render_text(final).rstrip("\n").splitlines()]
    return lines
