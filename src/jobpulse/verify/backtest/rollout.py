"""Rollout backtests: simulated canary rollouts, recorded, served by a real Prometheus, judged by ``jobpulse canary``.

Unlike the alert backtest (evenly spaced jobs, failures spread exactly), a rollout needs real noise — the
judgement is a statistical test, and a test on noiseless data proves nothing. Requests arrive as a Poisson
process; each goes to the canary with the phase's weight, fails with its side's probability and takes a
log-normal latency, all drawn independently. The spec's real job tracker records them with the rollout's
label as a job attribute; the samples go through promtool into a TSDB that a real Prometheus serves, and
each phase is judged at its end exactly as ``jobpulse canary --phase NAME --at END`` would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from jobpulse.canary.fetch import fetch_side, judge_phase
from jobpulse.canary.judge import FAIL, INCONCLUSIVE, PASS, PhaseVerdict
from jobpulse.prometheus_api import PrometheusAPI
from jobpulse.spec.model import Spec
from jobpulse.spec.rollout import Rollout
from jobpulse.verify.backtest.evaluate import TSDB
from jobpulse.verify.backtest.scenarios import Latency, Scenario, _default_attributes
from jobpulse.verify.backtest.simulate import _FINISH_FAIL, _FINISH_OK, Simulation

#: simulated rollouts start on a fixed Monday (2026-01-05T00:00:00Z), so runs are reproducible
EPOCH = 1_767_571_200
LEAD = 300.0  # seconds of baseline-only traffic before the first phase


@dataclass(frozen=True)
class RolloutScenario:
    """A rollout through every phase of ``rollout``: the canary's difference and what each phase must say."""

    name: str
    description: str
    rate: float  # requests per minute, both sides together
    failure_ratio: float  # the baseline's
    latency: Latency  # the baseline's
    canary_failure_factor: float = 1.0
    canary_p95_factor: float = 1.0
    canary_traffic_factor: float = 1.0  # scales every phase's weight (a starved canary)
    expect: tuple[str | None, ...] = ()  # per phase: pass | fail | inconclusive | None (not checked)
    seed: int = 0

    @property
    def canary_latency(self) -> Latency:
        if self.canary_p95_factor == 1.0 or self.latency.p95 is None:
            return self.latency
        return Latency(self.latency.median, self.latency.p95 * self.canary_p95_factor)


def rollout_scenarios(rollout: Rollout, *, rate: float = 900.0, seed: int = 0) -> list[RolloutScenario]:
    """The four rollouts the issue asks for: a good canary, 3x errors, +40 % p95 latency, too little traffic.

    A bad canary must fail in the first phase (it is bad from the start); a starved one (a fiftieth of each
    phase's weight) must be inconclusive in every phase — never a pass.
    """
    phases = len(rollout.phases)
    base = RolloutScenario(
        name="good-canary",
        description="The canary behaves exactly like the baseline (same error ratio and latency distribution).",
        rate=rate,
        failure_ratio=0.01,
        latency=Latency(0.2, 0.5),
        expect=(PASS,) * phases,
        seed=seed,
    )
    return [
        base,
        replace(
            base,
            name="errors-3x",
            description="The canary fails three times as often as the baseline.",
            canary_failure_factor=3.0,
            expect=(FAIL,) + (None,) * (phases - 1),
        ),
        replace(
            base,
            name="latency-p95-40pct",
            description="The canary's p95 latency is 40 % higher (same median, longer tail).",
            canary_p95_factor=1.4,
            expect=(FAIL,) + (None,) * (phases - 1),
        ),
        replace(
            base,
            name="starved-canary",
            description="The canary gets a fiftieth of each phase's weight: too little traffic to judge.",
            canary_traffic_factor=0.02,
            expect=(INCONCLUSIVE,) * phases,
        ),
    ]


def phase_bounds(rollout: Rollout) -> list[tuple[float, float]]:
    """(start, end) of each phase in seconds from the simulation's start (each runs its minimum duration)."""
    out = []
    t = LEAD
    for phase in rollout.phases:
        out.append((t, t + phase.min_duration_seconds))
        t += phase.min_duration_seconds
    return out


def rollout_job(spec: Spec, rollout: Rollout) -> str:
    """The job lifecycle whose attributes include the rollout's label (the one the simulation drives)."""
    for name, job in spec.jobs.items():
        if rollout.label in job.attributes:
            return name
    raise ValueError(
        f"rollout {rollout.name}: no job in `jobs` has {rollout.label!r} among its attributes, so a backtest "
        "cannot drive its metrics"
    )


class RolloutSimulation(Simulation):
    """The job tracker driven by Poisson arrivals split between the sides by the phase's weight."""

    def __init__(
        self, spec: Spec, rollout: Rollout, scenario: RolloutScenario, *, resolution: int, workdir: Path
    ) -> None:
        job = rollout_job(spec, rollout)
        bounds = phase_bounds(rollout)
        base = Scenario(
            name=scenario.name,
            description=scenario.description,
            duration=bounds[-1][1],
            job=job,
            attributes=_default_attributes(spec, job),
            rate=scenario.rate,
            failure_ratio=scenario.failure_ratio,
            latency=scenario.latency,
        )
        super().__init__(spec, base, start=EPOCH, resolution=resolution, seed=scenario.seed, workdir=workdir)
        self.rollout = rollout
        self.plan = scenario
        self.bounds = bounds
        attributes = self.spec.jobs[job].attributes
        index = attributes.index(rollout.label)
        values = list(self.values)
        values[index] = rollout.baseline
        self.baseline_values = tuple(values)
        values[index] = rollout.canary
        self.canary_values = tuple(values)
        mu_b, sigma_b = _lognormal(scenario.latency)
        mu_c, sigma_c = _lognormal(scenario.canary_latency)
        self._latency = {False: (mu_b, sigma_b), True: (mu_c, sigma_c)}
        self._failure = {
            False: scenario.failure_ratio,
            True: min(1.0, scenario.failure_ratio * scenario.canary_failure_factor),
        }
        self._next = float(EPOCH) + self.rng.expovariate(scenario.rate / 60.0)

    def weight(self, offset: float) -> float:
        """The canary's share of the traffic at ``offset`` seconds from the start."""
        for (start, end), phase in zip(self.bounds, self.rollout.phases, strict=True):
            if start <= offset < end:
                return min(1.0, phase.weight / 100 * self.plan.canary_traffic_factor)
        return 0.0

    def _advance(self, t0: float, t1: float) -> None:
        rng = self.rng
        gap = 60.0 / self.plan.rate
        tracker = self.tracker
        clock = self.clock
        while self._next <= t1:
            when = self._next
            self._drain_events(when)
            clock.now = when
            canary = rng.random() < self.weight(when - self.start)
            job = tracker.enqueue(None, *(self.canary_values if canary else self.baseline_values))
            job.start()
            ok = rng.random() >= self._failure[canary]
            if not ok:
                self.recording.failed += 1
            mu, sigma = self._latency[canary]
            latency = rng.lognormvariate(mu, sigma) if sigma > 0 else math.exp(mu)
            self._push(when + latency, _FINISH_OK if ok else _FINISH_FAIL, job, 0.0)
            self.recording.jobs += 1
            self._next = when + rng.expovariate(1.0 / gap)
        self._drain_events(t1)

    def _drain_events(self, until: float) -> None:
        # failures are counted when drawn (above); the parent counts them again when they finish
        failed = self.recording.failed
        super()._drain_events(until)
        self.recording.failed = failed


def _lognormal(latency: Latency) -> tuple[float, float]:
    return math.log(latency.median), latency.sigma


@dataclass
class PhaseOutcome:
    name: str
    start: float  # seconds from the simulation's start
    end: float
    verdict: PhaseVerdict
    expected: str | None

    @property
    def ok(self) -> bool:
        return self.expected is None or self.verdict.verdict == self.expected


@dataclass
class RolloutResult:
    scenario: RolloutScenario
    rollout: Rollout
    phases: list[PhaseOutcome]
    requests: int
    seconds: dict[str, float] = field(default_factory=dict)
    # per metric and side: (seconds from start, value) per interval, for the report's plots
    series: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.phases)


def run_rollout_scenario(
    spec: Spec,
    rollout: Rollout,
    scenario: RolloutScenario,
    *,
    workdir: Path,
    promtool: str,
    prometheus: str,
    resolution: int = 15,
    on_server: Callable[[str, float], None] | None = None,
) -> RolloutResult:
    """Simulate ``scenario``, load it into a real Prometheus and judge every phase at its end.

    ``on_server(url, start)`` is called while Prometheus still serves the data (tests use it to run the CLI).
    """
    timings: dict[str, float] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    with TSDB(workdir, promtool=promtool, prometheus=prometheus) as tsdb:
        began = time.perf_counter()
        sim = RolloutSimulation(spec, rollout, scenario, resolution=resolution, workdir=workdir)
        recording = sim.run(tsdb.import_chunk)
        tsdb.wait_imports()
        timings["simulate"] = time.perf_counter() - began
        began = time.perf_counter()
        server = tsdb.start()
        client = PrometheusAPI(server.url, timeout=120.0)
        outcomes = []
        for index, (phase, (start, end)) in enumerate(zip(rollout.phases, sim.bounds, strict=True)):
            verdict = judge_phase(client, rollout, phase, EPOCH + end)
            expected = scenario.expect[index] if index < len(scenario.expect) else None
            outcomes.append(PhaseOutcome(phase.name, start, end, verdict, expected))
        timings["judge"] = time.perf_counter() - began
        result = RolloutResult(scenario, rollout, outcomes, recording.jobs, timings)
        result.series = _series(client, rollout, EPOCH, EPOCH + sim.bounds[-1][1])
        if on_server is not None:
            on_server(server.url, float(EPOCH))
    return result


def _series(client: PrometheusAPI, rollout: Rollout, start: float, end: float) -> dict[str, dict[str, list]]:  # type: ignore[type-arg]
    """Each compared metric's per-interval value per side, for plots."""
    from jobpulse.canary.judge import SideData

    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for metric in rollout.metrics:
        sides: dict[str, list[tuple[float, float]]] = {}
        for side in ("canary", "baseline"):
            data: SideData = fetch_side(client, rollout, metric, side, start, end)
            points = []
            for i in range(len(data.events)):
                one = SideData(
                    [data.events[i]],
                    None if data.hits is None else [data.hits[i]],
                    None if data.buckets is None else [data.buckets[i]],
                    data.bounds,
                )
                value = one.value(metric)
                if not math.isnan(value):
                    points.append(((i + 1) * rollout.interval_seconds, value))
            sides[side] = points
        out[metric.name] = sides
    return out


def run_rollouts(spec: Spec, workdir: Path, promtool: str, prometheus: str) -> list[RolloutResult]:
    """Every rollout scenario of every rollout whose label a job of the spec carries (others cannot be driven)."""
    out = []
    for rollout in spec.rollouts:
        if not any(rollout.label in job.attributes for job in spec.jobs.values()):
            continue
        for scenario in rollout_scenarios(rollout):
            where = workdir / f"{rollout.name}-{scenario.name}"
            out.append(
                run_rollout_scenario(spec, rollout, scenario, workdir=where, promtool=promtool, prometheus=prometheus)
            )
    return out
