"""Rules for a rollout: per compared metric and side, the value and the events over a window; a verdict per metric;
an alert when the canary is clearly worse than the baseline; promtool tests for that alert.

The rules judge over a sliding window of ``WINDOW_INTERVALS`` sample intervals (10m for a 1m interval). They are
the live, coarser sibling of ``jobpulse canary``: the verdict is 1 (worse) when the canary's value is beyond the
allowed difference from the baseline's — for a ratio, also by a two-proportion z-test at the rollout's
confidence — and both sides have enough events; 0 when both sides have enough events and it is not worse; -1
when a side has too few events to say (no rollout running, or a starved canary).
"""

from __future__ import annotations

import math
import re
from statistics import NormalDist
from typing import Any

from jobpulse.compile.tests import TestGroup
from jobpulse.spec.model import Metric, Spec
from jobpulse.spec.promql import references
from jobpulse.spec.rollout import Compared, Rollout, SeriesRef
from jobpulse.spec.slo import bucket_label

WINDOW_INTERVALS = 10
EVENTS = "rollout:events:increase{window}"
HITS = "rollout:hits:increase{window}"
VALUE = "rollout:value:{window}"
VERDICT = "rollout:verdict:{window}"
WORSE_BY = "rollout:worse_by:{window}"
ALLOWED = "rollout:allowed_difference:{window}"
Z = "rollout:z_score:{window}"


def window(rollout: Rollout) -> str:
    seconds = int(rollout.interval_seconds * WINDOW_INTERVALS)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def min_events(rollout: Rollout) -> int:
    """The traffic guard over the rules' window: the phases' smallest min_events, scaled to the window."""
    seconds = rollout.interval_seconds * WINDOW_INTERVALS
    return max(1, min(math.ceil(p.min_events * seconds / p.min_duration_seconds) for p in rollout.phases))


def z_threshold(rollout: Rollout) -> float:
    return round(NormalDist().inv_cdf(0.5 + rollout.confidence / 2), 4)


def _num(value: float) -> str:
    return f"{value:.10g}"


def _sel(record: str, rollout: Rollout, metric: Compared, side: str | None = None) -> str:
    labels = f'rollout="{rollout.name}", metric="{metric.name}"'
    return f"{record}{{{labels}{f', side={chr(34)}{side}{chr(34)}' if side else ''}}}"


def _rules(rollout: Rollout, metric: Compared) -> list[dict[str, Any]]:
    w = window(rollout)
    rules: list[dict[str, Any]] = []
    for side in ("canary", "baseline"):
        labels = {"rollout": rollout.name, "metric": metric.name, "side": side}
        rules.append(
            {"record": EVENTS.format(window=w), "expr": rollout.events_query(metric, side, w), "labels": labels}
        )
        if metric.kind == "ratio":
            rules.append(
                {"record": HITS.format(window=w), "expr": rollout.numerator_query(metric, side, w), "labels": labels}
            )
            value = (
                f"{_sel(HITS.format(window=w), rollout, metric, side)}\n/\n"
                f"({_sel(EVENTS.format(window=w), rollout, metric, side)} > 0)"
            )
        else:
            value = f"histogram_quantile({_num(metric.quantile or 0.0)}, {rollout.buckets_query(metric, side, w)})"
        rules.append({"record": VALUE.format(window=w), "expr": value, "labels": labels})
    return rules + _judgement_rules(rollout, metric)


def _judgement_rules(rollout: Rollout, metric: Compared) -> list[dict[str, Any]]:
    """How much worse the canary is (in the bad direction), what is allowed, the z score, and the verdict."""
    w = window(rollout)
    on = "on(rollout, metric)"
    labels = {"rollout": rollout.name, "metric": metric.name}
    c, b = (_sel(VALUE.format(window=w), rollout, metric, s) for s in ("canary", "baseline"))
    ec, eb = (_sel(EVENTS.format(window=w), rollout, metric, s) for s in ("canary", "baseline"))
    if metric.direction == "increase":
        diff = f"{c} - {on} {b}"
    elif metric.direction == "decrease":
        diff = f"{b} - {on} {c}"
    else:
        diff = f"abs({c} - {on} {b})"
    rules = [
        {"record": WORSE_BY.format(window=w), "expr": f"max without (side) ({diff})", "labels": labels},
        {
            "record": ALLOWED.format(window=w),
            "expr": f"max without (side) (clamp_min(abs({b}) * {_num(metric.allowed_relative)}, "
            f"{_num(metric.allowed_absolute)}))",
            "labels": labels,
        },
    ]
    worse = (
        f"{_sel(WORSE_BY.format(window=w), rollout, metric)} > {on} {_sel(ALLOWED.format(window=w), rollout, metric)}"
    )
    if metric.kind == "ratio":
        hc, hb = (_sel(HITS.format(window=w), rollout, metric, s) for s in ("canary", "baseline"))
        pooled = f"(({hc} + {on} {hb}) / {on} ({ec} + {on} {eb}))"
        error = f"sqrt({pooled} * (1 - {pooled}) * (1 / {ec} + {on} 1 / {eb}))"
        rules.append(
            {
                "record": Z.format(window=w),
                "expr": f"max without (side) (\n  ({diff})\n  / {on}\n  {error}\n)",
                "labels": labels,
            }
        )
        worse = f"({worse}) and {on} {_sel(Z.format(window=w), rollout, metric)} > {z_threshold(rollout)}"
    guard = f"max without (side) ({ec} >= {min_events(rollout)} and {on} {eb} >= {min_events(rollout)})"
    rules.append(
        {
            "record": VERDICT.format(window=w),
            "expr": f"(({worse}) and {on} {guard}) * 0 + 1\nor {on} {guard} * 0\nor on() vector(-1)",
            "labels": labels,
        }
    )
    return rules


def alert_annotations(spec: Spec, rollout: Rollout, metric: Compared) -> dict[str, str]:
    w = window(rollout)
    return {
        "summary": f"Canary of {rollout.name} is worse than the baseline on {metric.name}",
        "description": (
            f"Over the last {w}, {metric.describe()} on {rollout.label}={rollout.canary} is beyond the allowed "
            f"difference from {rollout.label}={rollout.baseline} (both sides with at least {min_events(rollout)} "
            f"events). Judge the phase with `jobpulse canary` before promoting."
        ),
        "runbook_url": f"{spec.service.runbook_base_url}docs/alerts.md#{rollout.alert_name.lower()}",
    }


def rollout_alerts_doc(spec: Spec) -> list[str]:
    """The runbook section of each rollout's alert in ``docs/alerts.md``."""
    lines: list[str] = []
    for rollout in spec.rollouts:
        w = window(rollout)
        lines += [f"## {rollout.alert_name}", ""]
        lines += [
            f"**Severity:** {rollout.severity} · **For:** {_for(rollout)} · **Rollout:** {rollout.name} "
            f"(label `{rollout.label}`: `{rollout.canary}` vs `{rollout.baseline}`)",
            "",
            f"Fires per compared metric (label `metric`) while the canary is worse than the baseline over the last "
            f"{w} beyond the allowed difference — for a ratio also by a two-proportion z-test at "
            f"{rollout.confidence * 100:g}% — with at least {min_events(rollout)} events on each side.",
            "",
            "| metric | compares | bad | allowed | critical |",
            "|---|---|---|---|---|",
        ]
        for metric in rollout.metrics:
            allowed = f"{metric.allowed_relative * 100:g}% or {metric.allowed_absolute:g}"
            lines.append(
                f"| {metric.name} | `{metric.describe()}` | {metric.direction} | {allowed} | "
                f"{'yes' if metric.critical else 'no'} |"
            )
        lines += [
            "",
            "### Runbook",
            "",
            "Stop promoting the rollout. Judge the current phase with its statistics: `jobpulse canary SPEC "
            "--prometheus URL` (exit 1 = fail: roll back; 3 = inconclusive: wait for more traffic). The rollout "
            f"dashboard `{rollout.dashboard_uid}` shows both sides per metric.",
            "",
        ]
    return lines


def alert_labels(rollout: Rollout, metric: Compared) -> dict[str, str]:
    return {"severity": rollout.severity, "critical": "true" if metric.critical else "false"}


def canary_groups(spec: Spec) -> list[dict[str, Any]]:
    groups = []
    for rollout in spec.rollouts:
        rules: list[dict[str, Any]] = []
        for metric in rollout.metrics:
            rules += _rules(rollout, metric)
        for metric in rollout.metrics:
            rules.append(
                {
                    "alert": rollout.alert_name,
                    "expr": f"{_sel(VERDICT.format(window=window(rollout)), rollout, metric)} == 1",
                    "for": _for(rollout),
                    "labels": alert_labels(rollout, metric),
                    "annotations": alert_annotations(spec, rollout, metric),
                }
            )
        groups.append(
            {"name": f"{spec.service.name}.rollout-{rollout.name}", "interval": rollout.interval, "rules": rules}
        )
    return groups


def _for(rollout: Rollout) -> str:
    seconds = int(rollout.interval_seconds * 3)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


# --- promtool tests -----------------------------------------------------------------------------------


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _concrete(ref: SeriesRef, metric: Metric, avoid: bool = False) -> dict[str, str] | None:
    """Label values that match ``ref``'s matchers — or, with ``avoid``, that fail its first one (a series the
    denominator counts but the numerator does not); None when no such value is known."""
    out: dict[str, str] = {}
    for index, m in enumerate(references(ref.select()).selectors[0].matchers):
        want = not (avoid and index == 0)
        if m.op == "=" and want:
            out[m.label] = m.value
            continue
        label = metric.label(m.label)
        choices = sorted(label.values) if label is not None and label.values is not None else None
        if choices is None:
            if m.op in ("=", "!=") and not want:
                out[m.label] = m.value if m.op == "!=" else f"{m.value}_other"
                continue
            return None
        found = [v for v in choices if _matches(m.op, m.value, v) == want]
        if not found:
            return None
        out[m.label] = found[0]
    if avoid and not out:
        return None
    return out


def _matches(op: str, pattern: str, value: str) -> bool:
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    hit = re.fullmatch(pattern, value) is not None
    return hit if op == "=~" else not hit


def _side_labels(rollout: Rollout, side: str, metric: Metric) -> dict[str, str] | None:
    """The side's label and the rollout's own matchers, as concrete label values (None: not expressible)."""
    own = _concrete(SeriesRef(metric.name, rollout.matchers), metric) if rollout.matchers else {}
    if own is None:
        return None
    return {**own, rollout.label: rollout.canary if side == "canary" else rollout.baseline}


def _ratio_inputs(
    spec: Spec, rollout: Rollout, metric: Compared, side: str, events: int, hits: int, minutes: int
) -> list[dict[str, str]] | None:
    assert metric.numerator is not None and metric.denominator is not None
    num_metric = spec.series_index()[metric.numerator.name][0]
    side_label = _side_labels(rollout, side, num_metric)
    if side_label is None:
        return None
    hit_labels = _concrete(metric.numerator, num_metric)
    if hit_labels is None:
        return None
    hit = {"series": _series(metric.numerator.name, {**hit_labels, **side_label}), "values": f"0+{hits}x{minutes}"}
    if metric.numerator.name != metric.denominator.name:
        den_metric = spec.series_index()[metric.denominator.name][0]
        den_labels = _concrete(metric.denominator, den_metric)
        if den_labels is None:
            return None
        total = {
            "series": _series(metric.denominator.name, {**den_labels, **side_label}),
            "values": f"0+{events}x{minutes}",
        }
        return [hit, total]
    rest_labels = _concrete(metric.numerator, num_metric, avoid=True)
    if rest_labels is None:
        return None
    rest = {
        "series": _series(metric.numerator.name, {**rest_labels, **side_label}),
        "values": f"0+{events - hits}x{minutes}",
    }
    return [hit, rest]


def _latency_inputs(
    spec: Spec, rollout: Rollout, metric: Compared, side: str, events: int, slow: bool, minutes: int
) -> list[dict[str, str]] | None:
    histogram = spec.metrics[metric.histogram or ""]
    assert histogram.buckets is not None
    side_label = _side_labels(rollout, side, histogram)
    if side_label is None:
        return None
    matchers = _concrete(metric.bucket, histogram) or {}
    # every observation in the second bucket, or (slow) in the last finite one
    lands = len(histogram.buckets) - 1 if slow else min(1, len(histogram.buckets) - 1)
    out = []
    for index, bound in enumerate([*histogram.buckets, math.inf]):
        le = "+Inf" if math.isinf(bound) else bucket_label(bound)
        per_minute = events if index >= lands else 0
        out.append(
            {
                "series": _series(f"{histogram.name}_bucket", {**matchers, **side_label, "le": le}),
                "values": f"0+{per_minute}x{minutes}",
            }
        )
    out.append(
        {"series": _series(f"{histogram.name}_count", {**matchers, **side_label}), "values": f"0+{events}x{minutes}"}
    )
    return out


def canary_tests(spec: Spec) -> list[TestGroup]:
    """Per rollout metric: a worse canary fires, an equal one and a starved one do not."""
    groups: list[TestGroup] = []
    for rollout in spec.rollouts:
        guard = min_events(rollout)
        w_minutes = int(rollout.interval_seconds * WINDOW_INTERVALS) // 60
        if rollout.interval_seconds % 60 or w_minutes < 1:
            continue
        minutes = w_minutes + 3 * int(rollout.interval_seconds // 60) + 5
        per_minute = max(10, math.ceil(2 * guard / w_minutes))
        baseline_rate = per_minute * 10
        for metric in rollout.metrics:
            if metric.direction == "decrease":
                continue  # the generated inputs make the canary worse by increasing its value
            cases: list[tuple[str, list[dict[str, str]] | None, bool]] = []
            if metric.kind == "ratio":
                good = baseline_rate // 100 or 1
                for title, canary_hits, canary_events, fires in (
                    ("a canary with ten times the baseline's ratio fires", per_minute // 2, per_minute, True),
                    ("a canary like its baseline stays silent", per_minute * good // baseline_rate, per_minute, False),
                    ("a starved canary stays silent", 1, 1, False),
                ):
                    canary = _ratio_inputs(spec, rollout, metric, "canary", canary_events, canary_hits, minutes)
                    base = _ratio_inputs(spec, rollout, metric, "baseline", baseline_rate, good, minutes)
                    cases.append((title, None if canary is None or base is None else canary + base, fires))
            else:
                for title, slow, events, fires in (
                    ("a canary with a slower tail fires", True, per_minute, True),
                    ("a canary like its baseline stays silent", False, per_minute, False),
                    ("a starved canary stays silent", True, 1, False),
                ):
                    canary = _latency_inputs(spec, rollout, metric, "canary", events, slow, minutes)
                    base = _latency_inputs(spec, rollout, metric, "baseline", baseline_rate, False, minutes)
                    cases.append((title, None if canary is None or base is None else canary + base, fires))
            expected = [
                {
                    "exp_labels": {"rollout": rollout.name, "metric": metric.name, **alert_labels(rollout, metric)},
                    "exp_annotations": alert_annotations(spec, rollout, metric),
                }
            ]
            for title, maybe, fires in cases:
                if maybe is None:
                    continue
                inputs = maybe
                body = {
                    "name": f"rollout {rollout.name}, {metric.name}: {title}",
                    "interval": "1m",
                    "input_series": inputs,
                    "alert_rule_test": [
                        {
                            "eval_time": f"{minutes}m",
                            "alertname": rollout.alert_name,
                            "exp_alerts": expected if fires else [],
                        }
                    ],
                }
                groups.append(
                    TestGroup(body, rollout.interval, rule_group=f"{spec.service.name}.rollout-{rollout.name}")
                )
    return groups
