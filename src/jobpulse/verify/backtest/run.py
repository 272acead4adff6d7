"""Run a backtest: simulate each scenario, evaluate the spec's rules on it, judge the alerts."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from jobpulse.compile.build import compile_spec
from jobpulse.compile.slo_rules import ERROR_RATIO
from jobpulse.compile.slo_tests import detection_minutes, fire_minute
from jobpulse.spec.model import Spec
from jobpulse.spec.slo import SLO, Tier, duration_seconds
from jobpulse.verify.backtest.evaluate import (
    COARSE_WINDOW,
    TSDB,
    AlertRule,
    Firing,
    alert_rules,
    longest_range,
    recording_levels,
)
from jobpulse.verify.backtest.rollout import RolloutResult, run_rollouts
from jobpulse.verify.backtest.scenarios import BacktestPlan, Scenario
from jobpulse.verify.backtest.simulate import Simulation
from jobpulse.verify.binaries import require_binary

#: Simulated time starts on a fixed Monday (2026-01-05T00:00:00Z), so reports are reproducible.
EPOCH = 1_767_571_200
PLOT_POINTS = 1500

Progress = Callable[[str, float], None]  # (what, fraction of this scenario done)


@dataclass
class Prediction:
    """The workbook's detection time for an SLO tier under a scenario's first fault."""

    minutes: float | None  # None: the tier should not fire (burn at or below its factor, or the fault is too short)
    burn: float
    note: str = ""


@dataclass
class AlertOutcome:
    rule: AlertRule
    ref: str
    expected: str | None  # "fire" | "silent" | "ignored" | None
    firings: list[Firing]  # seconds from the scenario's start
    series: int
    detect: float | None = None  # seconds from the fault's start to the first firing in or after it
    resolve: float | None = None  # seconds from the fault's end until it stopped firing
    still_firing: bool = False
    false_firings: int = 0
    prediction: Prediction | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return bool(self.firings)


@dataclass
class SLOSeries:
    slo: SLO
    times: list[float]  # seconds from the scenario's start
    ratios: dict[str, list[float | None]]  # window → error ratio at each time


@dataclass
class ScenarioResult:
    scenario: Scenario
    alerts: list[AlertOutcome]
    slo_series: list[SLOSeries]
    jobs: int
    failed: int
    samples: int
    scrapes: int
    seconds: dict[str, float]

    @property
    def problems(self) -> list[str]:
        return [f"{a.ref}: {p}" for a in self.alerts for p in a.problems]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class BacktestResult:
    plan: BacktestPlan
    resolution: int
    scenarios: list[ScenarioResult]
    seconds: float
    rollouts: list[RolloutResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenarios) and all(r.ok for r in self.rollouts)


def _display(rule: AlertRule, rules: list[AlertRule]) -> str:
    """``Name`` or ``Name{tier="page_1h"}`` when several rules share the name."""
    siblings = [r for r in rules if r.name == rule.name]
    if len(siblings) < 2:
        return rule.name
    labels = rule.label_dict
    if "tier" in labels:
        return f'{rule.name}{{tier="{labels["tier"]}"}}'
    varying = sorted({k for r in siblings for k, v in r.labels if any(s.label_dict.get(k) != v for s in siblings)})
    inner = ", ".join(f'{k}="{labels.get(k, "")}"' for k in varying)
    return f"{rule.name}{{{inner}}}" if inner else f"{rule.name}#{rule.index}"


def unknown_refs(plan: BacktestPlan, rules: list[AlertRule]) -> list[str]:
    """Expected-alert references that match no alerting rule of the spec."""
    out = []
    for scenario in plan.scenarios:
        for ref in (*scenario.fire, *scenario.silent, *scenario.ignore):
            if not any(ref.matches(r.name, r.label_dict) for r in rules):
                names = sorted({r.name for r in rules})
                out.append(
                    f"scenario {scenario.name}: no alerting rule matches {ref.text!r}; the spec's alerts are "
                    f"{', '.join(names) or 'none'}"
                )
    return out


def _slo_and_tier(spec: Spec, rule: AlertRule) -> tuple[SLO, Tier] | None:
    labels = rule.label_dict
    for slo in spec.slos:
        if slo.alert_name == rule.name and labels.get("slo") == slo.name:
            for tier in slo.tiers:
                if tier.name == labels.get("tier"):
                    return slo, tier
    return None


def _error_ratios(spec: Spec, scenario: Scenario, slo: SLO) -> tuple[float, float] | None:
    """(baseline, fault) error ratio of the SLI under the first fault, when the simulation determines them."""
    if not scenario.faults:
        return None
    fault = scenario.faults[0]
    if fault.stall or fault.down or (fault.rate is not None and fault.rate != scenario.rate):
        return None
    job = spec.jobs[scenario.job]
    sli = slo.sli
    if sli.kind == "events" and job.completed is not None and sli.total_selector is not None:
        if sli.total_selector.name != job.completed.exposed_name:
            return None
        after = fault.failure_ratio if fault.failure_ratio is not None else scenario.failure_ratio
        return scenario.failure_ratio, after
    if sli.kind == "latency" and job.duration is not None and sli.latency_metric == job.duration.name:
        assert sli.latency_threshold is not None
        threshold = sli.latency_threshold / job.duration.unit_scale
        latency = fault.latency or scenario.latency
        return scenario.latency.fraction_above(threshold), latency.fraction_above(threshold)
    return None


def predict(spec: Spec, scenario: Scenario, rule: AlertRule) -> Prediction | None:
    """The workbook's detection time (burn for the long window, then ``for``) via compile.slo_tests."""
    found = _slo_and_tier(spec, rule)
    if found is None:
        return None
    slo, tier = found
    ratios = _error_ratios(spec, scenario, slo)
    if ratios is None or ratios[1] == ratios[0]:
        return None
    before, during = ratios
    fault = scenario.faults[0]
    burn = Decimal(repr(during)) / slo.budget
    baseline = round(fault.start / 60)
    note = "" if before == 0 else f"approximate: the baseline burns {float(Decimal(repr(before)) / slo.budget):.3g}x"
    detection = detection_minutes(tier, burn, baseline)
    fire = fire_minute(tier, burn, baseline)
    if detection is None or fire is None:
        return Prediction(None, float(burn), f"burn {float(burn):.3g}x is not above the tier's {tier.factor}x")
    fault_minutes = (fault.end - fault.start) / 60
    if detection > fault_minutes:
        return Prediction(
            None, float(burn), f"needs {detection}m of burn at {float(burn):.3g}x; the fault lasts {fault_minutes:g}m"
        )
    return Prediction(float(fire - baseline), float(burn), note)


def judge(outcome: AlertOutcome, scenario: Scenario) -> None:
    """Detection and resolve times against the scenario's fault window, false firings, expectations."""
    start, end = scenario.fault_start, scenario.fault_end
    firings = outcome.firings
    if start is None or end is None:
        outcome.false_firings = len(firings)
    else:
        outcome.false_firings = sum(1 for f in firings if f.start < start)
        # firings still going at the fault's start or starting after it
        related = [f for f in firings if f.end is None or f.end > start]
        if related:
            outcome.detect = max(0.0, related[0].start - start)
            last = related[-1]
            if last.end is None:
                outcome.still_firing = True
            else:
                outcome.resolve = last.end - end  # negative: it stopped before the fault did
    if outcome.expected == "ignored":
        return
    if outcome.false_firings:
        where = "on healthy traffic" if start is None else "on healthy traffic, before the fault"
        outcome.problems.append(f"fired {outcome.false_firings} time(s) {where}")
    if outcome.expected == "fire" and outcome.detect is None:
        outcome.problems.append("expected to fire during the fault, did not")
    if outcome.expected == "silent" and firings:
        outcome.problems.append("expected to stay silent, fired")


def _expectation(scenario: Scenario, rule: AlertRule) -> str | None:
    refs_fire, refs_silent = scenario.fire, scenario.silent
    if any(r.matches(rule.name, rule.label_dict) for r in scenario.ignore):
        return "ignored"
    if any(r.matches(rule.name, rule.label_dict) for r in refs_fire):
        return "fire"
    if any(r.matches(rule.name, rule.label_dict) for r in refs_silent):
        return "silent"
    return None


def _group_expected(outcomes: list[AlertOutcome], scenario: Scenario) -> None:
    """A name-only ``fire`` reference to several rules (SLO tiers) is met when any of them fires."""
    for ref in scenario.fire:
        matching = [o for o in outcomes if ref.matches(o.rule.name, o.rule.label_dict)]
        if len(matching) > 1 and any(o.detect is not None for o in matching):
            for o in matching:
                o.problems = [p for p in o.problems if p != "expected to fire during the fault, did not"]


def run_scenario(
    plan: BacktestPlan,
    scenario: Scenario,
    rule_file: dict[str, object],
    *,
    resolution: int,
    workdir: Path,
    promtool: str,
    prometheus: str,
    progress: Progress | None = None,
) -> ScenarioResult:
    spec = plan.spec
    interval = spec.service.evaluation_interval
    rules = alert_rules(rule_file, interval)
    timings: dict[str, float] = {}
    start = EPOCH
    end = EPOCH + int(scenario.duration)

    def tell(what: str, fraction: float) -> None:
        if progress is not None:
            progress(what, fraction)

    with TSDB(workdir, promtool=promtool, prometheus=prometheus) as tsdb:
        began = time.perf_counter()
        sim = Simulation(spec, scenario, start=start, resolution=resolution, seed=plan.seed, workdir=workdir)
        recording = sim.run(tsdb.import_chunk, lambda f: tell("simulating", 0.6 * f))
        timings["simulate"] = time.perf_counter() - began
        began = time.perf_counter()
        tsdb.wait_imports()
        timings["import"] = time.perf_counter() - began
        tell("recording rules", 0.62)
        began = time.perf_counter()
        tsdb.start()
        levels = recording_levels(rule_file, interval)
        tsdb.backfill(levels, start, end)
        timings["recording_rules"] = time.perf_counter() - began
        tell("alerts", 0.8)
        began = time.perf_counter()
        phases: dict[str, float] = {}
        for group in rule_file.get("groups", []):  # type: ignore[attr-defined]
            # a recording rule evaluated at the group's interval (not one moved to the hourly group)
            first = next(
                (r for r in group["rules"] if "record" in r and longest_range(r["expr"]) <= COARSE_WINDOW), None
            )
            if first is not None:
                step = float(duration_seconds(group.get("interval") or interval))
                phases[group["name"]] = tsdb.phase(first["record"], first.get("labels") or {}, start, step)
        outcomes = []
        for rule in rules:
            result = tsdb.evaluate_alert(rule, start, end, phases.get(rule.group, 0.0))
            firings = [Firing(f.start - start, None if f.end is None else f.end - start) for f in result.firings]
            outcome = AlertOutcome(
                rule,
                _display(rule, rules),
                _expectation(scenario, rule),
                firings,
                result.series,
                prediction=predict(spec, scenario, rule),
            )
            judge(outcome, scenario)
            outcomes.append(outcome)
        _group_expected(outcomes, scenario)
        timings["alerts"] = time.perf_counter() - began
        tell("plot data", 0.9)
        began = time.perf_counter()
        slo_series = _slo_series(tsdb, spec, start, end)
        timings["plot_data"] = time.perf_counter() - began
    tell("done", 1.0)
    return ScenarioResult(
        scenario, outcomes, slo_series, recording.jobs, recording.failed, recording.samples, recording.scrapes, timings
    )


def _slo_series(tsdb: TSDB, spec: Spec, start: int, end: int) -> list[SLOSeries]:
    out = []
    base = 60
    step = max(base, -(-(end - start) // PLOT_POINTS // base) * base)
    times = [float(t) for t in range(start, end + 1, step)]
    for slo in spec.slos:
        windows = sorted({w for t in slo.tiers for w in (t.short, t.long)} | {"5m"}, key=_window_seconds)
        ratios: dict[str, list[float | None]] = {}
        for window in windows:
            expr = f'{ERROR_RATIO.format(window=window)}{{slo="{slo.name}"}}'
            data = tsdb.query_range(f"max({expr})", times[0], times[-1], step)
            points = {round(t): v for series in data.values() for t, v in series}
            ratios[window] = [points.get(round(t)) for t in times]
        out.append(SLOSeries(slo, [t - start for t in times], ratios))
    return out


def _window_seconds(window: str) -> float:
    from jobpulse.verify.backtest.scenarios import seconds

    return seconds(window)


def run_backtest(
    plan: BacktestPlan,
    *,
    resolution: int,
    workdir: Path | None = None,
    progress: Callable[[Scenario, str, float], None] | None = None,
    workers: int = 2,
) -> BacktestResult:
    """Run every planned scenario; raises MissingBinaryError when promtool/prometheus are not installed."""
    promtool = require_binary("promtool")
    prometheus = require_binary("prometheus")
    build = compile_spec(plan.spec)
    rule_file = build.get(build.rule_file).content
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jobpulse-backtest-") as scratch:
        base = Path(workdir or scratch)

        def one(index: int, scenario: Scenario) -> ScenarioResult:
            scenario_dir = base / f"{index:02d}-{scenario.name}"
            scenario_dir.mkdir(parents=True, exist_ok=True)

            def tell(what: str, fraction: float) -> None:
                if progress is not None:
                    progress(scenario, what, fraction)

            return run_scenario(
                plan,
                scenario,
                rule_file,
                resolution=resolution,
                workdir=scenario_dir,
                promtool=promtool,
                prometheus=prometheus,
                progress=tell,
            )

        # Two scenarios at a time: while one simulates (Python), the other waits on promtool and Prometheus.
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(plan.scenarios)))) as pool:
            futures = [pool.submit(one, index, scenario) for index, scenario in enumerate(plan.scenarios)]
            results = [future.result() for future in futures]
        rollouts = run_rollouts(plan.spec, base / "rollouts", promtool, prometheus) if plan.rollouts else []
    return BacktestResult(plan, resolution, results, time.perf_counter() - began, rollouts)
