"""Judge a rollout phase from Prometheus: pick the window, pull each side's per-interval samples, decide."""

from __future__ import annotations

import math
from dataclasses import dataclass

from jobpulse.canary.judge import PhaseVerdict, SideData, judge_metric, judge_phase_metrics
from jobpulse.canary.prometheus import PrometheusAPI, Series, instant, range_series
from jobpulse.spec.rollout import Compared, Phase, Rollout


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    baseline_start: float
    baseline_end: float


def phase_window(rollout: Rollout, phase: Phase, at: float, since: float | None = None) -> Window:
    """The canary's window ends at ``at`` and starts at ``since`` (default: the phase's minimum duration before);
    a whole number of intervals. The baseline's is the same, or the same length just before it ("preceding")."""
    interval = rollout.interval_seconds
    length = (at - since) if since is not None else phase.min_duration_seconds
    length = max(interval, math.floor(length / interval) * interval)
    start = at - length
    if phase.baseline_window == "preceding":
        return Window(start, at, start - length, start)
    return Window(start, at, start, at)


def _times(start: float, end: float, interval: float) -> list[float]:
    count = round((end - start) / interval)
    return [start + (i + 1) * interval for i in range(count)]


def _by_time(series: Series) -> dict[float, float]:
    out: dict[float, float] = {}
    for points in series.values():
        for t, v in points:
            out[round(t, 3)] = out.get(round(t, 3), 0.0) + v
    return out


def _column(series: Series, times: list[float]) -> list[float]:
    values = _by_time(series)
    return [max(0.0, values.get(round(t, 3), 0.0)) for t in times]


def fetch_side(
    client: PrometheusAPI, rollout: Rollout, metric: Compared, side: str, start: float, end: float
) -> SideData:
    """One side's per-interval events (and hits, or histogram buckets) over [start, end]."""
    interval = rollout.interval_seconds
    times = _times(start, end, interval)
    if not times:
        return SideData([], [] if metric.kind == "ratio" else None, None if metric.kind == "ratio" else [])
    first, last = times[0], times[-1]
    events = _column(range_series(client, rollout.events_query(metric, side), first, last, interval), times)
    if metric.kind == "ratio":
        hits = _column(range_series(client, rollout.numerator_query(metric, side), first, last, interval), times)
        return SideData(events, hits=hits)
    raw = range_series(client, rollout.buckets_query(metric, side), first, last, interval)
    by_le: dict[float, dict[float, float]] = {}
    for key, points in raw.items():
        le = dict(key).get("le")
        if le is None:
            continue
        bound = float(le)
        column = by_le.setdefault(bound, {})
        for t, v in points:
            column[round(t, 3)] = column.get(round(t, 3), 0.0) + v
    bounds = tuple(sorted(by_le))
    buckets = [[max(0.0, by_le[b].get(round(t, 3), 0.0)) for b in bounds] for t in times]
    return SideData(events, buckets=buckets, bounds=bounds)


def canary_share(client: PrometheusAPI, rollout: Rollout, at: float, window: str) -> float | None:
    """The canary's share of all of the first metric's events over ``window`` before ``at`` (None: no traffic)."""
    metric = rollout.metrics[0]
    canary = instant(client, rollout.events_query(metric, "canary", window), at)
    everything = instant(client, f"sum(increase({metric.count.select(rollout.matchers)}[{window}]))", at)
    c = sum(v for points in canary.values() for _, v in points)
    total = sum(v for points in everything.values() for _, v in points)
    if not total or math.isnan(total) or math.isnan(c):
        return None
    return c / total


def detect_phase(client: PrometheusAPI, rollout: Rollout, at: float) -> tuple[Phase, float | None]:
    """The phase whose weight is closest to the canary's share of the traffic now."""
    shortest = min(rollout.phases, key=lambda p: p.min_duration_seconds)
    share = canary_share(client, rollout, at, shortest.min_duration)
    if share is None:
        return rollout.phases[0], None
    return min(rollout.phases, key=lambda p: abs(p.weight - share * 100)), share


def judge_phase(
    client: PrometheusAPI,
    rollout: Rollout,
    phase: Phase | None,
    at: float,
    since: float | None = None,
) -> PhaseVerdict:
    """Judge ``phase`` (default: the one the traffic split says) over the window ending at ``at``."""
    notes: list[str] = []
    share: float | None
    if phase is None:
        phase, share = detect_phase(client, rollout, at)
        if share is None:
            notes.append(f"no traffic in the last {phase.min_duration}: judging the first phase, {phase.name}")
        else:
            notes.append(f"phase {phase.name} chosen: the canary has {share * 100:.3g}% of the traffic")
    window = phase_window(rollout, phase, at, since)
    share = canary_share(client, rollout, at, _duration(window.end - window.start))
    if share is not None and abs(share * 100 - phase.weight) > max(5.0, 0.5 * phase.weight):
        notes.append(
            f"the canary has {share * 100:.3g}% of the traffic but phase {phase.name}'s weight is {phase.weight:g}%"
        )
    verdicts = []
    for metric in rollout.metrics:
        canary = fetch_side(client, rollout, metric, "canary", window.start, window.end)
        baseline = fetch_side(client, rollout, metric, "baseline", window.baseline_start, window.baseline_end)
        verdicts.append(judge_metric(rollout, phase, metric, canary, baseline))
    verdict, reason = judge_phase_metrics(rollout, verdicts)
    return PhaseVerdict(
        rollout=rollout,
        phase=phase,
        verdict=verdict,
        reason=reason,
        metrics=verdicts,
        start=window.start,
        end=window.end,
        baseline_start=window.baseline_start,
        baseline_end=window.baseline_end,
        canary_share=share,
        notes=notes,
    )


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"
