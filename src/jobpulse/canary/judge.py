"""Verdicts: one per compared metric and one per phase — pass, fail or inconclusive, always with the numbers.

A metric **fails** when the canary is worse than the baseline beyond the allowed difference *and* a two-sided
Mann-Whitney U test at the rollout's confidence says the canary's samples are shifted the bad way. It is
**inconclusive** when a side has no data, too few events or too few samples, or when it looks worse beyond the
allowed difference but the test cannot confirm it. Otherwise it **passes**.

A phase fails when a critical metric fails or when fewer than ``pass_score`` percent of the judged metrics pass;
it is inconclusive when a critical metric is inconclusive or fewer than half of the metrics could be judged;
otherwise it passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from jobpulse.canary.stats import (
    RankTest,
    bucket_counts,
    histogram_quantile,
    rank_test,
    remove_outliers,
    rng_for,
    thin_buckets,
    thin_ratio,
)
from jobpulse.spec.rollout import MIN_SAMPLES, Compared, Phase, Rollout

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
#: a side needs events in at least this share of the window's intervals
MIN_COVERAGE = 0.8


@dataclass
class SideData:
    """One side's per-interval numbers over the window, aligned by interval (0 events where nothing came)."""

    events: list[float]
    hits: list[float] | None = None  # ratio: the numerator per interval
    buckets: list[list[float]] | None = None  # latency: cumulative counts per interval, in ``bounds`` order
    bounds: tuple[float, ...] = ()

    @property
    def total(self) -> float:
        return sum(self.events)

    def value(self, metric: Compared) -> float:
        """The side's value over the whole window: the ratio of sums, or the quantile of the summed histogram."""
        if metric.kind == "ratio":
            assert self.hits is not None
            return sum(self.hits) / self.total if self.total > 0 else math.nan
        assert self.buckets is not None and metric.quantile is not None
        if not self.buckets:
            return math.nan
        summed = [sum(interval[i] for interval in self.buckets) for i in range(len(self.bounds))]
        return histogram_quantile(metric.quantile, self.bounds, bucket_counts(summed))


@dataclass
class SideSummary:
    events: float
    value: float
    samples: int = 0
    outliers: int = 0
    intervals_with_data: int = 0


@dataclass
class MetricVerdict:
    metric: Compared
    verdict: str
    reason: str
    canary: SideSummary
    baseline: SideSummary
    intervals: int
    difference: float | None = None
    tolerance: float | None = None
    test: RankTest | None = None

    @property
    def relative(self) -> float | None:
        if self.difference is None or not self.baseline.value:
            return None
        return self.difference / abs(self.baseline.value)


@dataclass
class PhaseVerdict:
    rollout: Rollout
    phase: Phase
    verdict: str
    reason: str
    metrics: list[MetricVerdict]
    start: float
    end: float
    baseline_start: float
    baseline_end: float
    canary_share: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        judged = [m for m in self.metrics if m.verdict != INCONCLUSIVE]
        if not judged:
            return None
        return 100.0 * sum(1 for m in judged if m.verdict == PASS) / len(judged)

    @property
    def exit_code(self) -> int:
        return {PASS: 0, FAIL: 1, INCONCLUSIVE: 3}[self.verdict]


def format_value(metric: Compared, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "no value"
    if metric.kind == "ratio":
        return f"{value * 100:.3g}%"
    unit = {"seconds": "s", "milliseconds": "ms"}.get(metric.unit, f" {metric.unit}" if metric.unit != "none" else "")
    return f"{value:.4g}{unit}"


def format_difference(metric: Compared, value: float) -> str:
    sign = "+" if value >= 0 else "-"
    if metric.kind == "ratio":
        return f"{sign}{abs(value) * 100:.3g} pp"
    return f"{sign}{format_value(metric, abs(value))}"


def _samples(metric: Compared, canary: SideData, baseline: SideData) -> tuple[list[float], list[float]]:
    """Volume-matched per-interval values: each interval's larger side thinned to the smaller side's events."""
    x: list[float] = []
    y: list[float] = []
    if metric.kind == "ratio":
        assert canary.hits is not None and baseline.hits is not None
        rng = rng_for(canary.events, canary.hits, baseline.events, baseline.hits)
        for i in range(len(canary.events)):
            keep = min(round(canary.events[i]), round(baseline.events[i]))
            if keep < 1:
                continue
            x.append(thin_ratio(canary.events[i], canary.hits[i], keep, rng))
            y.append(thin_ratio(baseline.events[i], baseline.hits[i], keep, rng))
    else:
        assert canary.buckets is not None and baseline.buckets is not None and metric.quantile is not None
        rng = rng_for(*canary.buckets, *baseline.buckets)
        for c_cumulative, b_cumulative in zip(canary.buckets, baseline.buckets, strict=True):
            c_counts, b_counts = bucket_counts(c_cumulative), bucket_counts(b_cumulative)
            keep = min(sum(c_counts), sum(b_counts))
            if keep < 1:
                continue
            x.append(histogram_quantile(metric.quantile, canary.bounds, thin_buckets(c_counts, keep, rng)))
            y.append(histogram_quantile(metric.quantile, baseline.bounds, thin_buckets(b_counts, keep, rng)))
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if not (math.isnan(a) or math.isnan(b))]
    return [a for a, _ in pairs], [b for _, b in pairs]


def _worse(direction: str, difference: float, tolerance: float) -> bool:
    if direction == "increase":
        return difference > tolerance
    if direction == "decrease":
        return -difference > tolerance
    return abs(difference) > tolerance


def judge_metric(
    rollout: Rollout, phase: Phase, metric: Compared, canary: SideData, baseline: SideData
) -> MetricVerdict:
    intervals = len(canary.events)
    c = SideSummary(canary.total, canary.value(metric), intervals_with_data=sum(1 for e in canary.events if e > 0))
    b = SideSummary(
        baseline.total, baseline.value(metric), intervals_with_data=sum(1 for e in baseline.events if e > 0)
    )

    def inconclusive(reason: str) -> MetricVerdict:
        return MetricVerdict(metric, INCONCLUSIVE, reason, c, b, intervals)

    empty = [name for name, side in (("canary", c), ("baseline", b)) if side.events <= 0]
    if empty:
        sides = " and ".join(empty)
        return inconclusive(f"no data on the {sides} side{'s' if len(empty) > 1 else ''}: 0 events in the window")
    short = [
        f"{name} {side.events:,.0f}"
        for name, side in (("canary", c), ("baseline", b))
        if side.events < phase.min_events
    ]
    if short:
        return inconclusive(
            f"too little traffic: {', '.join(short)} events; the phase needs {phase.min_events:,} per side"
        )
    sparse = [
        f"{name} in {side.intervals_with_data} of {intervals}"
        for name, side in (("canary", c), ("baseline", b))
        if side.intervals_with_data < MIN_COVERAGE * intervals
    ]
    if sparse:
        return inconclusive(f"data in too few intervals ({', '.join(sparse)}); needs {MIN_COVERAGE:.0%} of them")
    x, y = _samples(metric, canary, baseline)
    x, c.outliers = remove_outliers(x)
    y, b.outliers = remove_outliers(y)
    c.samples, b.samples = len(x), len(y)
    if min(len(x), len(y)) < MIN_SAMPLES:
        return inconclusive(
            f"too few samples: canary {len(x)}, baseline {len(y)} intervals with traffic on both sides; "
            f"the test needs {MIN_SAMPLES}"
        )
    test = rank_test(x, y, rollout.confidence)
    difference = c.value - b.value
    tolerance = metric.tolerance(b.value)
    verdict = MetricVerdict(metric, PASS, "", c, b, intervals, difference, tolerance, test)
    level = f"{rollout.confidence * 100:g}%"
    significant = test.p_value < 1 - rollout.confidence
    shifted_bad = test.direction != "none" and (metric.direction in ("either", test.direction))
    beyond = f"beyond the allowed {format_difference(metric, tolerance).lstrip('+')}"
    if _worse(metric.direction, difference, tolerance):
        # the rank test must agree: significant, and shifted the same way as the window's values
        if significant and test.direction == ("increase" if difference > 0 else "decrease"):
            verdict.verdict = FAIL
            verdict.reason = f"worse by {format_difference(metric, difference)} ({beyond}), significant at {level}"
        else:
            verdict.verdict = INCONCLUSIVE
            verdict.reason = (
                f"looks worse by {format_difference(metric, difference)} ({beyond}) but the test does not confirm it "
                f"at {level} (p={test.p_value:.2g}): let the phase run longer"
            )
    elif significant and shifted_bad:
        verdict.reason = (
            f"differs by {format_difference(metric, difference)} (significant at {level}) but within the allowed "
            f"{format_difference(metric, tolerance).lstrip('+')}"
        )
    else:
        verdict.reason = f"within the allowed {format_difference(metric, tolerance).lstrip('+')} of the baseline"
    return verdict


def judge_phase_metrics(rollout: Rollout, metrics: list[MetricVerdict]) -> tuple[str, str]:
    """The phase's verdict and the reason for it."""
    failed = [m for m in metrics if m.verdict == FAIL]
    critical_failed = [m for m in failed if m.metric.critical]
    judged = [m for m in metrics if m.verdict != INCONCLUSIVE]
    undecided = [m for m in metrics if m.verdict == INCONCLUSIVE]
    if critical_failed:
        names = ", ".join(m.metric.name for m in critical_failed)
        return FAIL, f"critical metric {names} is worse on the canary"
    score = 100.0 * sum(1 for m in judged if m.verdict == PASS) / len(judged) if judged else None
    if failed and score is not None and score < rollout.pass_score:
        names = ", ".join(m.metric.name for m in failed)
        return FAIL, f"{score:.0f}% of the judged metrics pass (needs {rollout.pass_score:g}%): {names} worse"
    critical_open = [m for m in undecided if m.metric.critical]
    if critical_open:
        names = ", ".join(m.metric.name for m in critical_open)
        return INCONCLUSIVE, f"critical metric {names} could not be judged"
    if len(judged) * 2 < len(metrics):
        return INCONCLUSIVE, f"only {len(judged)} of {len(metrics)} metrics could be judged"
    if undecided:
        names = ", ".join(m.metric.name for m in undecided)
        return PASS, f"{score:.0f}% of the judged metrics pass; not judged: {names}"
    if failed:
        names = ", ".join(m.metric.name for m in failed)
        return PASS, f"{score:.0f}% of the metrics pass (needs {rollout.pass_score:g}%); worse: {names}"
    return PASS, "every metric is within its allowed difference"
