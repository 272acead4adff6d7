"""Backtest scenarios: the spec's own (``backtest.scenarios``) and the built-in ones, resolved to seconds.

Built-in scenarios work for any spec with a ``jobs`` entry: they drive the first job lifecycle (or the
``backtest.baseline.job``) and map each fault onto its roles — failures onto the ``completed`` outcome,
latency onto the ``duration`` histogram, a stall onto ``queue_depth``, a traffic drop onto every counter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jobpulse.spec.errors import Location, Problem, SpecError
from jobpulse.spec.model import Spec
from jobpulse.spec.slo import duration_seconds
from jobpulse.spec.wire import SpecV1
from jobpulse.spec.wire_backtest import BacktestSpec, ExpectSpec, LatencySpec, TrafficSpec
from jobpulse.spec.yamlpos import PathKey, Positions, load_yaml

DEFAULT_RATE = 10.0  # jobs per minute
Z95 = 1.6448536269514722  # the standard normal's 95th percentile


def seconds(text: str) -> float:
    return float(duration_seconds(text))


@dataclass(frozen=True)
class Latency:
    """Job latency in seconds: log-normal through the median and p95, or fixed at the median."""

    median: float
    p95: float | None = None

    @property
    def sigma(self) -> float:
        if self.p95 is None or self.p95 <= self.median:
            return 0.0
        return math.log(self.p95 / self.median) / Z95

    def fraction_above(self, threshold: float) -> float:
        """The share of jobs slower than ``threshold`` seconds."""
        if self.sigma == 0.0:
            return 1.0 if self.median > threshold else 0.0
        z = (math.log(threshold) - math.log(self.median)) / self.sigma
        return 0.5 * math.erfc(z / math.sqrt(2))

    def scaled(self, factor: float) -> Latency:
        return Latency(self.median * factor, None if self.p95 is None else self.p95 * factor)

    def describe(self) -> str:
        if self.p95 is None:
            return f"{_human(self.median)} each"
        return f"median {_human(self.median)}, p95 {_human(self.p95)}"

    @classmethod
    def from_wire(cls, spec: LatencySpec) -> Latency:
        return cls(seconds(spec.median), None if spec.p95 is None else seconds(spec.p95))


@dataclass(frozen=True)
class Fault:
    name: str
    start: float  # seconds from the scenario's start
    end: float
    rate: float | None = None
    failure_ratio: float | None = None
    latency: Latency | None = None
    stall: bool = False
    down: bool = False

    def describe(self) -> str:
        parts = []
        if self.rate is not None:
            parts.append(f"{_num(self.rate)} jobs/min")
        if self.failure_ratio is not None:
            parts.append(f"{_num(self.failure_ratio * 100)}% of jobs fail")
        if self.latency is not None:
            parts.append(f"latency {self.latency.describe()}")
        if self.stall:
            parts.append("queue stalled (no job starts)")
        if self.down:
            parts.append("target down (not scraped)")
        return ", ".join(parts)


@dataclass(frozen=True)
class AlertRef:
    """``Name`` or ``Name{label="value"}`` as written in ``expect``."""

    text: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(labels.get(k) == v for k, v in self.labels)

    @classmethod
    def parse(cls, text: str) -> AlertRef:
        text = text.strip()
        name, _, rest = text.partition("{")
        pairs = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"', rest))
        return cls(text, name.strip(), pairs)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration: float
    job: str
    attributes: dict[str, str]
    rate: float
    failure_ratio: float
    latency: Latency
    faults: tuple[Fault, ...] = ()
    fire: tuple[AlertRef, ...] = ()
    silent: tuple[AlertRef, ...] = ()
    builtin: bool = False
    ignore: tuple[AlertRef, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.faults

    @property
    def fault_start(self) -> float | None:
        return min((f.start for f in self.faults), default=None)

    @property
    def fault_end(self) -> float | None:
        return max((f.end for f in self.faults), default=None)

    def boundaries(self) -> list[float]:
        """Times (seconds from start) where the traffic regime changes."""
        return sorted({t for f in self.faults for t in (f.start, f.end) if 0 < t < self.duration})

    def regime(self, t: float) -> tuple[float, float, Latency, bool, bool]:
        """(rate per minute, failure ratio, latency, stalled, down) at ``t`` seconds from the start."""
        rate, failure, latency, stall, down = self.rate, self.failure_ratio, self.latency, False, False
        for fault in self.faults:
            if fault.start <= t < fault.end:
                rate = fault.rate if fault.rate is not None else rate
                failure = fault.failure_ratio if fault.failure_ratio is not None else failure
                latency = fault.latency if fault.latency is not None else latency
                stall = stall or fault.stall
                down = down or fault.down
        return rate, failure, latency, stall, down


@dataclass
class BacktestPlan:
    """Everything ``jobpulse backtest`` runs: the resolved spec, its backtest section and the scenarios."""

    spec: Spec
    section: BacktestSpec
    scenarios: list[Scenario] = field(default_factory=list)
    seed: int = 0
    rollouts: bool = False  # also run the spec's rollout scenarios (verify.backtest.rollout)


def _human(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    if value >= 60:
        return f"{value / 60:.1f}m"
    return f"{_num(value)}s"


def _num(value: float) -> str:
    return f"{value:.6g}"


def human_duration(value: float) -> str:
    """``5400`` → ``1h30m``; ``90.5`` → ``1m30.5s``."""
    if value < 0:
        return "-" + human_duration(-value)
    out = ""
    rest = value
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            count = int(rest // size)
            out += f"{count}{unit}"
            rest -= count * size
    if rest or not out:
        out += f"{_num(round(rest, 3))}s"
    return out


def load_section(path: Path) -> tuple[BacktestSpec, Positions]:
    """The spec's ``backtest`` section (empty if absent) and the YAML positions, for located errors."""
    text = path.read_text(encoding="utf-8")
    data, positions = load_yaml(text, str(path))
    wire = SpecV1.model_validate(data)  # the spec loaded before, so this validates
    return wire.backtest or BacktestSpec(), positions


def _default_attributes(spec: Spec, job_name: str) -> dict[str, str]:
    job = spec.jobs[job_name]
    out: dict[str, str] = {}
    for attr in job.attributes:
        values: list[str] = []
        for metric in job.roles().values():
            label = metric.label(attr)
            if label is not None and label.values is not None:
                values = sorted(label.values)
                break
        out[attr] = values[0] if values else "backtest"
    return out


def _default_latency(spec: Spec, job_name: str) -> Latency:
    """A tenth of the tightest latency-SLO threshold on the job's duration histogram (p95 a third), else 1s/4s."""
    job = spec.jobs[job_name]
    thresholds = [
        slo.sli.latency_threshold / job.duration.unit_scale
        for slo in spec.slos
        if job.duration is not None
        and slo.sli.kind == "latency"
        and slo.sli.latency_metric == job.duration.name
        and slo.sli.latency_threshold is not None
    ]
    if thresholds:
        tightest = min(thresholds)
        return Latency(tightest / 10, tightest / 3)
    return Latency(1.0, 4.0)


def builtin_scenarios(baseline: Scenario, days: float | None) -> list[Scenario]:
    """A healthy week, a failure spike, a latency regression, a stalled queue and a traffic drop to zero."""
    day = 86400.0
    healthy = replace(
        baseline,
        name="healthy-week",
        description="A week of healthy traffic: no alert may fire.",
        duration=7 * day,
    )
    lead = day  # a day of healthy traffic before each fault, so every window up to 1d has data
    faults = [
        (
            "failure-spike",
            "Half of all jobs fail for an hour.",
            Fault("failure spike", lead, lead + 3600, failure_ratio=0.5),
        ),
        (
            "latency-regression",
            "Jobs take ten times as long for six hours.",
            Fault("latency regression", lead, lead + 6 * 3600, latency=baseline.latency.scaled(10)),
        ),
        (
            "stalled-queue",
            "Workers start no job for 30 minutes; the backlog starts when they come back.",
            Fault("stall", lead, lead + 1800, stall=True),
        ),
        (
            "traffic-drop",
            "No job is enqueued for six hours: an idle service must not page.",
            Fault("traffic drop", lead, lead + 6 * 3600, rate=0.0),
        ),
    ]
    out = [healthy]
    for name, description, fault in faults:
        out.append(replace(baseline, name=name, description=description, duration=3 * day, faults=(fault,)))
    if days is not None:
        out = [replace(s, duration=days * day) for s in out]
    return out


class _Errors:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        where: Location = self.positions.locate(path)
        self.problems.append(Problem(where, ".".join(str(p) for p in path), message))


def _traffic(
    spec: Spec, base: Scenario | None, traffic: TrafficSpec, path: PathKey, errors: _Errors
) -> dict[str, Any] | None:
    """Fields of a Scenario from a TrafficSpec layered over ``base`` (None: the spec defaults)."""
    if not spec.jobs:
        errors.add(path, "a backtest needs a job lifecycle in `jobs` to drive")
        return None
    job = traffic.job or (base.job if base else next(iter(spec.jobs)))
    if job not in spec.jobs:
        errors.add((*path, "job"), f"unknown job {job!r}; the spec has {', '.join(spec.jobs)}")
        return None
    attributes = dict(base.attributes) if base and base.job == job else _default_attributes(spec, job)
    for name, value in traffic.attributes.items():
        if name not in spec.jobs[job].attributes:
            errors.add(
                (*path, "attributes", name),
                f"job {job!r} has no attribute {name!r}; it takes ({', '.join(spec.jobs[job].attributes) or 'none'})",
            )
            continue
        attributes[name] = value
    latency = (
        Latency.from_wire(traffic.latency)
        if traffic.latency
        else (base.latency if base and base.job == job else _default_latency(spec, job))
    )
    rate = traffic.rate if traffic.rate is not None else (base.rate if base else DEFAULT_RATE)
    failure = traffic.failure_ratio if traffic.failure_ratio is not None else (base.failure_ratio if base else 0.0)
    return {"job": job, "attributes": attributes, "latency": latency, "rate": rate, "failure_ratio": failure}


def _refs(expect: ExpectSpec) -> tuple[tuple[AlertRef, ...], tuple[AlertRef, ...]]:
    return tuple(AlertRef.parse(t) for t in expect.fire), tuple(AlertRef.parse(t) for t in expect.silent)


def plan_backtest(
    spec: Spec,
    section: BacktestSpec,
    positions: Positions,
    *,
    selected: tuple[str, ...] = (),
    days: float | None = None,
) -> BacktestPlan:
    """Resolve the scenarios to run; raises :class:`SpecError` (located) on problems."""
    errors = _Errors(positions)
    root: PathKey = ("backtest",)
    fields = _traffic(spec, None, section.baseline, (*root, "baseline"), errors)
    if fields is None:
        raise SpecError(errors.problems)
    baseline = Scenario(name="baseline", description="", duration=86400.0, **fields)
    scenarios: list[Scenario] = []
    if section.builtin:
        for scenario in builtin_scenarios(baseline, days):
            fire, silent = _refs(section.expect.get(scenario.name, ExpectSpec()))
            scenarios.append(replace(scenario, fire=fire, silent=silent, builtin=True))
            late = [f for f in scenario.faults if f.end > scenario.duration]
            if late and (not selected or scenario.name in selected):
                errors.add(
                    root,
                    f"--days {days:g} is too short for the built-in scenario {scenario.name}: its fault runs from "
                    f"{human_duration(late[0].start)} to {human_duration(late[0].end)}",
                )
    known = {s.name for s in scenarios} | {own.name for own in section.scenarios}
    for index, own in enumerate(section.scenarios):
        path: PathKey = (*root, "scenarios", index)
        if selected and own.name not in selected:
            scenarios = [s for s in scenarios if s.name != own.name]
            continue
        fields = _traffic(spec, baseline, own, path, errors)
        if fields is None:
            continue
        duration = days * 86400.0 if days is not None else seconds(own.duration)
        faults = []
        for f_index, fault in enumerate(own.faults):
            start = seconds(fault.start)
            end = start + seconds(fault.duration)
            if start >= duration:
                errors.add(
                    (*path, "faults", f_index, "start"),
                    f"the fault starts at {fault.start}, after the scenario's end ({human_duration(duration)})",
                )
                continue
            faults.append(
                Fault(
                    fault.name or f"fault {f_index + 1}",
                    start,
                    min(end, duration),
                    fault.rate,
                    fault.failure_ratio,
                    Latency.from_wire(fault.latency) if fault.latency else None,
                    fault.stall,
                    fault.down,
                )
            )
        fire, silent = _refs(own.expect)
        scenario = Scenario(
            name=own.name,
            description=own.description,
            duration=duration,
            faults=tuple(faults),
            fire=fire,
            silent=silent,
            **fields,
        )
        scenarios = [s for s in scenarios if s.name != own.name] + [scenario]
    if errors.problems:
        raise SpecError(errors.problems)
    ignore = tuple(AlertRef.parse(t) for t in section.ignore)
    scenarios = [replace(s, ignore=ignore) for s in scenarios]
    if selected:
        unknown = [name for name in selected if name not in known]
        if unknown:
            raise SpecError(
                [
                    Problem(
                        positions.locate(root),
                        "",
                        f"unknown scenario {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}",
                    )
                ]
            )
        scenarios = [s for s in scenarios if s.name in selected]
    return BacktestPlan(spec, section, scenarios, section.seed, rollouts=not selected)
