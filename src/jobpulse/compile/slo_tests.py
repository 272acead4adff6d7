"""Generated promtool tests for every SLO.

For each enabled tier: a burn just above the tier's factor (after a healthy baseline as long as the tier's
long window) fires the tier at the time the workbook predicts — the long window needs ``long * factor / burn``
of the burn, then ``for`` — and not before. For the SLO: a burn just below the lowest factor never fires,
zero traffic never fires and yields 0 (not NaN) in every recording rule, and (with a minimum-events guard)
a trickle of failures on an idle service does not page.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

from jobpulse.compile.slo_rules import ERROR_RATIO, tier_annotations, tier_labels
from jobpulse.compile.slo_series import CannotGenerate, Series, input_series
from jobpulse.compile.tests import TestGroup
from jobpulse.spec.model import Spec
from jobpulse.spec.slo import SLO, Tier, bucket_spellings, clean, duration_seconds

EVENTS_PER_MINUTE = 1000
ABOVE = Decimal("1.1")
BELOW = Decimal("0.9")


def _per_minute(role: str, error_ratio: Decimal) -> Decimal:
    """Growth per minute of a series of ``role`` at ``error_ratio``."""
    r = Decimal(EVENTS_PER_MINUTE)
    if role == "total":
        return r
    if role == "bad":
        return r * error_ratio
    return r * (1 - error_ratio)


def _values(baseline: int, burn: int, healthy_step: Decimal, burn_step: Decimal) -> str:
    """promtool expanding notation: ``baseline`` samples at one slope, then ``burn`` samples at another."""
    parts = [f"0+{clean(healthy_step)}x{baseline}" if healthy_step else f"0x{baseline}"]
    if burn > 0:
        start = healthy_step * baseline + burn_step
        parts.append(f"{clean(start)}+{clean(burn_step)}x{burn - 1}" if burn_step else f"{clean(start)}x{burn - 1}")
    return " ".join(parts)


def _series_block(
    series: list[Series], baseline: int, burn: int, error_ratio: Decimal, step: int
) -> list[dict[str, str]]:
    """Input series sampled every ``step`` minutes: ``baseline`` healthy minutes, then ``burn`` minutes."""
    out = []
    for s in series:
        healthy = _per_minute(s.role, Decimal(0)) * step
        burning = _per_minute(s.role, error_ratio) * step
        out.append({"series": s.text(), "values": _values(baseline // step, burn // step, healthy, burning)})
    return out


def _step(minutes: int) -> int:
    """Sample and evaluation step for a test spanning ``minutes``: 5m for day-long windows, else 1m."""
    return 5 if minutes >= 24 * 60 else 1


#: evaluation steps (minutes) a generated test may use, finest first
EVAL_STEPS = (1, 5, 15, 30)


def _eval_step(sample_step: int, margin: int) -> int:
    """The coarsest evaluation step that keeps a firing time inside ``margin`` minutes of its prediction.

    promtool evaluates the rules on this grid (the work grows with the number of steps times the points in the
    longest window): an alert turns pending up to a step after its condition holds and fires up to a step after its
    ``for``, under two steps late, so a third of the margin leaves room. A multiple of the sample step.
    """
    fitting = [s for s in EVAL_STEPS if s % sample_step == 0 and 3 * s <= margin]
    return max(fitting, default=sample_step)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _round_down(value: int, step: int) -> int:
    return value // step * step


def _minutes(duration: str) -> int:
    return int(duration_seconds(duration) / 60)


def detection_minutes(tier: Tier, burn: Decimal, baseline: int) -> int | None:
    """Minutes of burn before both windows exceed the tier's threshold (None: never)."""
    if burn <= tier.factor:
        return None
    ratio_needed = tier.factor / burn
    long_w, short_w = _minutes(tier.long), _minutes(tier.short)
    for d in range(1, 100_000):
        ok = all(Decimal(min(d, w)) / Decimal(min(w, baseline + d)) > ratio_needed for w in (long_w, short_w))
        if ok:
            return d
    return None


def fire_minute(tier: Tier, burn: Decimal, baseline: int) -> int | None:
    """The minute the tier fires when the series start at minute 0 and burn from ``baseline`` on."""
    d = detection_minutes(tier, burn, baseline)
    if d is None:
        return None
    detected = baseline + d
    if tier.kind == "ticket":
        # a ticket also waits until the SLI has data for twice its short window (slo_rules.tier_expr)
        detected = max(detected, 2 * _minutes(tier.short) + 1)
    return detected + (_minutes(tier.for_) if tier.for_ else 0)


def _margin(tier: Tier) -> int:
    return max(3, math.ceil(0.04 * _minutes(tier.long)))


def _expected(spec: Spec, slo: SLO, firing: list[Tier], group_labels: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for tier in firing:
        annotations = tier_annotations(spec, slo, tier)
        for key, value in annotations.items():
            for label, label_value in group_labels.items():
                value = value.replace(f"{{{{ $labels.{label} }}}}", label_value)
            annotations[key] = value
        out.append(
            {
                "exp_labels": {**tier_labels(slo, tier, spec.service.name), **group_labels},
                "exp_annotations": annotations,
            }
        )
    return out


def slo_test_groups(spec: Spec, slo: SLO) -> list[TestGroup]:
    """promtool test groups for one SLO (raises CannotGenerate for expression SLIs)."""
    series = input_series(spec, slo)
    group_labels = {g: series[0].labels[g] for g in slo.group_by}
    groups: list[TestGroup] = []
    for tier in slo.tiers:
        burn = tier.factor * ABOVE
        baseline = _minutes(tier.long)
        step = _step(baseline)
        expected_fire = fire_minute(tier, burn, baseline)
        detection = detection_minutes(tier, burn, baseline)
        assert expected_fire is not None and detection is not None
        margin = _margin(tier)
        others = [(t, fire_minute(t, burn, baseline)) for t in slo.tiers]
        # every tier that fires at this burn must fire on time at the evaluation step
        every = _eval_step(step, min(_margin(t) for t, f in others if f is not None))

        def unambiguous(minute: int, tier: Tier = tier, others: list[tuple[Tier, int | None]] = others) -> bool:
            return all(f is None or abs(minute - f) >= _margin(t) for t, f in others if t is not tier)

        before = _round_down(expected_fire - margin, every)
        while not unambiguous(before) and before > baseline:
            before -= every
        after = _round_up(expected_fire + margin, every)
        while not unambiguous(after):
            after += every
        end = after + step
        firing_before = [t for t, f in others if f is not None and f <= before]
        firing_after = [t for t, f in others if f is not None and f <= after]
        groups.append(
            TestGroup(
                {
                    "name": f"SLO {slo.name}: {tier.name} fires on a burn of {clean(burn)}x (just above "
                    f"{clean(tier.factor)}x): detected after {detection}m of burn, firing {tier.for_ or '0m'} later",
                    "interval": f"{step}m",
                    "input_series": _series_block(series, baseline, end - baseline, burn * slo.budget, step),
                    "alert_rule_test": [
                        {
                            "eval_time": f"{before}m",
                            "alertname": slo.alert_name,
                            "exp_alerts": _expected(spec, slo, firing_before, group_labels),
                        },
                        {
                            "eval_time": f"{after}m",
                            "alertname": slo.alert_name,
                            "exp_alerts": _expected(spec, slo, firing_after, group_labels),
                        },
                    ],
                },
                f"{every}m",
            )
        )
    if slo.tiers:
        lowest = min(t.factor for t in slo.tiers)
        burn = lowest * BELOW
        longest = max(_minutes(t.long) for t in slo.tiers)
        step = _step(longest)
        # the burn is steady below every threshold from the start: no firing time to place, a coarse grid will do
        every = 15 if step == 5 else step
        horizon = _round_up(max(_minutes(t.long) + (_minutes(t.for_) if t.for_ else 0) for t in slo.tiers) + 30, every)
        checks = sorted({_round_up(_minutes(t.long) + 5, every) for t in slo.tiers} | {horizon})
        groups.append(
            TestGroup(
                {
                    "name": f"SLO {slo.name}: a burn of {clean(burn)}x (just below the lowest factor) never fires",
                    "interval": f"{step}m",
                    "input_series": _series_block(series, 5 * step, horizon - 4 * step, burn * slo.budget, step),
                    "alert_rule_test": [
                        {"eval_time": f"{m}m", "alertname": slo.alert_name, "exp_alerts": []} for m in checks
                    ],
                },
                f"{every}m",
            )
        )
    groups.append(_zero_traffic(slo, series, group_labels))
    if slo.min_events >= 2 and slo.tiers:
        groups.append(_trickle(slo, series))
    if slo.tiers and min(t.min_bad_events for t in slo.tiers) >= 2:
        groups += [_single_failure(slo, series, spacing) for spacing in SINGLE_FAILURE_SPACINGS]
    if slo.sli.kind == "latency":
        groups += _bucket_spellings(spec, slo, series, group_labels)
    return groups


#: request spacings (minutes) at which one failed request must page nobody
SINGLE_FAILURE_SPACINGS = (5, 10, 20)


def _single_failure(slo: SLO, series: list[Series], spacing: int) -> TestGroup:
    """One request every ``spacing`` minutes for hours, one of them fails: nobody is paged, no ticket is opened."""
    # a tier needs its short window above the threshold too: the failure can fire it only while it is in there
    pages = [t for t in slo.tiers if t.kind == "page"]
    latest = max((_minutes(t.short) + (_minutes(t.for_) if t.for_ else 0) for t in pages), default=60)
    baseline = min(360, _round_down(max(_minutes(t.long) for t in slo.tiers), spacing))
    fail_at = baseline
    horizon = fail_at + min(latest, 6 * 60) + 30
    values: dict[str, str] = {}
    for s in series:
        counts = []
        count = 0
        for t in range(horizon + 1):
            if t > 0 and t % spacing == 0:
                failed = t == fail_at
                if s.role == "total" or (s.role == "bad" and failed) or (s.role == "good" and not failed):
                    count += 1
            counts.append(count)
        values[s.text()] = _compress(counts)
    checks = sorted({fail_at + m for m in (3, 7, 10, 20, 25, 35, 45, 60)} | {horizon})
    checks = [m for m in checks if m <= horizon]
    return TestGroup(
        {
            "name": f"SLO {slo.name}: one failed request at one request every {spacing}m pages nobody",
            "interval": "1m",
            "input_series": [{"series": k, "values": v} for k, v in values.items()],
            "alert_rule_test": [{"eval_time": f"{m}m", "alertname": slo.alert_name, "exp_alerts": []} for m in checks],
        },
        "1m",
    )


def _compress(counts: list[int]) -> str:
    """promtool's notation for a step function: runs of one value as ``vxN`` (N+1 samples)."""
    parts: list[str] = []
    i = 0
    while i < len(counts):
        j = i
        while j + 1 < len(counts) and counts[j + 1] == counts[i]:
            j += 1
        parts.append(f"{counts[i]}x{j - i}" if j > i else str(counts[i]))
        i = j + 1
    return " ".join(parts)


def _bucket_spellings(spec: Spec, slo: SLO, series: list[Series], group_labels: dict[str, str]) -> list[TestGroup]:
    """A latency SLI reads the same from a Go target (``le="2"``), and says it is unmeasurable without its bucket."""
    from jobpulse.compile.slo_rules import unmeasurable_rule

    assert slo.sli.latency_threshold is not None
    spellings = bucket_spellings(slo.sli.latency_threshold)
    total = next(s for s in series if s.role == "total")
    bucket = next(s for s in series if s.role == "good")
    horizon = 90
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted({"slo": slo.name, **group_labels}.items()))
    ratio = ERROR_RATIO.format(window="1h")
    groups = []
    for spelling in spellings[1:]:
        other = replace(bucket, labels={**bucket.labels, "le": spelling})
        groups.append(
            TestGroup(
                {
                    "name": f'SLO {slo.name}: a target that spells the bucket le="{spelling}" gives the same SLI',
                    "interval": "1m",
                    "input_series": [
                        {"series": s.text(), "values": f"0+{EVENTS_PER_MINUTE}x{horizon}"} for s in (total, other)
                    ],
                    "alert_rule_test": [
                        {"eval_time": f"{horizon}m", "alertname": name, "exp_alerts": []}
                        for name in (slo.alert_name, slo.unmeasurable_alert_name)
                    ],
                    "promql_expr_test": [
                        {
                            "expr": f'{ratio}{{slo="{slo.name}"}}',
                            "eval_time": f"{horizon}m",
                            "exp_samples": [{"labels": f"{ratio}{{{labels}}}", "value": 0}],
                        }
                    ],
                },
                "1m",
            )
        )
    rule = unmeasurable_rule(spec, slo)
    annotations = dict(rule["annotations"])
    events = Decimal(EVENTS_PER_MINUTE * 60)
    annotations["description"] = annotations["description"].replace("{{ $value }}", clean(events))
    for label, value in group_labels.items():
        annotations = {k: v.replace(f"{{{{ $labels.{label} }}}}", value) for k, v in annotations.items()}
    fires_at = 15 + 2  # `for`, after the 1h window has counted events
    groups.append(
        TestGroup(
            {
                "name": f"SLO {slo.name}: events without the threshold bucket are unmeasurable, not all bad",
                "interval": "1m",
                "input_series": [{"series": total.text(), "values": f"0+{EVENTS_PER_MINUTE}x{horizon}"}],
                "alert_rule_test": [
                    {"eval_time": f"{horizon}m", "alertname": slo.alert_name, "exp_alerts": []},
                    {"eval_time": f"{fires_at - 5}m", "alertname": slo.unmeasurable_alert_name, "exp_alerts": []},
                    {
                        "eval_time": "60m",
                        "alertname": slo.unmeasurable_alert_name,
                        "exp_alerts": [
                            {"exp_labels": {**rule["labels"], **group_labels}, "exp_annotations": annotations}
                        ],
                    },
                ],
            },
            "1m",
        )
    )
    return groups


def _zero_traffic(slo: SLO, series: list[Series], group_labels: dict[str, str]) -> TestGroup:
    longest = max([_minutes(t.long) for t in slo.tiers] + [60])
    step = _step(longest)
    every = 30 if step == 5 else step  # nothing changes: only the values at the horizon are checked
    horizon = _round_up(longest + 30, every)
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted({"slo": slo.name, **group_labels}.items()))
    samples = [
        (ERROR_RATIO.format(window="5m"), 0),
        (ERROR_RATIO.format(window=slo.period), 0),
    ]
    tests = [
        {
            "expr": f'{name}{{slo="{slo.name}"}}',
            "eval_time": f"{horizon}m",
            "exp_samples": [{"labels": f"{name}{{{labels}}}", "value": value}],
        }
        for name, value in samples
    ]
    tests.append(
        {
            "expr": f'slo:error_budget:remaining{{slo="{slo.name}"}}',
            "eval_time": f"{horizon}m",
            "exp_samples": [{"labels": f"slo:error_budget:remaining{{{labels}}}", "value": 1}],
        }
    )
    return TestGroup(
        {
            "name": f"SLO {slo.name}: zero traffic never fires and gives 0, not NaN",
            "interval": f"{step}m",
            "input_series": [{"series": s.text(), "values": f"0x{horizon // step}"} for s in series],
            "alert_rule_test": [{"eval_time": f"{horizon}m", "alertname": slo.alert_name, "exp_alerts": []}],
            "promql_expr_test": tests,
        },
        f"{every}m",
    )


def _trickle(slo: SLO, series: list[Series]) -> TestGroup:
    """Every event fails, but one every 20 minutes: fewer than min_events in every window → silent."""
    spacing = 20
    end = (slo.min_events - 1) * spacing
    values: dict[str, str] = {}
    for s in series:
        grows = s.role in ("bad", "total")
        values[s.text()] = " ".join(str(t // spacing if grows else 0) for t in range(end + 1))
    return TestGroup(
        {
            "name": f"SLO {slo.name}: {slo.min_events - 1} failures, one every {spacing}m, stay under the "
            f"min_events guard of {slo.min_events} and do not page",
            "interval": "1m",
            "input_series": [{"series": k, "values": v} for k, v in values.items()],
            "alert_rule_test": [{"eval_time": f"{end}m", "alertname": slo.alert_name, "exp_alerts": []}],
        },
        "1m",
    )


def all_slo_tests(spec: Spec) -> tuple[list[TestGroup], list[str]]:
    """Test groups for every SLO, and notes for SLOs whose tests could not be generated."""
    groups: list[TestGroup] = []
    notes: list[str] = []
    for slo in spec.slos:
        try:
            group_name = f"{spec.service.name}.slo.{slo.name}"
            groups += [replace(g, rule_group=group_name) for g in slo_test_groups(spec, slo)]
        except CannotGenerate as exc:
            notes.append(f"SLO {slo.name}: no generated tests: {exc}")
        for tier in slo.unreachable_tiers:
            notes.append(f"SLO {slo.name}: tier {tier} is left out")
    return groups, notes
