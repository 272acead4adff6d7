"""Recording rules for the LLM cost baseline, the cost-spike alert, and promtool tests that prove it.

From the spec's ``llm.baseline`` (with ``llm.metrics.cost`` a counter):

* ``<current_record>{time_window="<rate_window>"}``: the cost per hour now, ``sum(rate(cost[5m])) * 3600``;
* ``<baseline_record>{time_window="<window>"}`` for each window: the average of that current cost over the
  window *leaving out its most recent* ``exclude_recent`` — computed as (sum - recent sum) / (count - recent
  count) of the recorded samples, so no ``offset`` is needed, a spike does not raise its own baseline, and a
  series younger than ``exclude_recent`` gives no baseline (never NaN: the count is guarded by ``> 0``);
* the spike alert: current >= factor x baseline (and above ``min_cost_per_hour``) for ``for``.

The generated tests feed a cost counter growing steadily for longer than the window, then: doubled (fires,
not before ``for``), +30% (silent), alternating ±30% every hour all along (silent), zero cost (silent, and
the baseline is 0, not NaN).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jobpulse.compile.tests import TestGroup
from jobpulse.spec.model import Metric, Spec
from jobpulse.spec.slo import clean, duration_seconds
from jobpulse.spec.wire_llm import CostBaseline, SpikeAlert

#: cost units per minute in the generated tests: 60/min is exactly 1/s, 3600 per hour (exact in floats)
STEADY = 60


def _by(baseline: CostBaseline) -> str:
    return f"sum by ({', '.join(baseline.by)})" if baseline.by else "sum"


def current_selector(baseline: CostBaseline) -> str:
    return f'{baseline.current_record}{{time_window="{baseline.rate_window}"}}'


def baseline_selector(baseline: CostBaseline, window: str) -> str:
    return f'{baseline.baseline_record}{{time_window="{window}"}}'


def current_expr(cost: Metric, baseline: CostBaseline) -> str:
    return f"{_by(baseline)} (rate({cost.exposed_name}[{baseline.rate_window}])) * 3600"


def baseline_expr(baseline: CostBaseline, window: str) -> str:
    current = current_selector(baseline)
    recent = baseline.exclude_recent
    return (
        "(\n"
        f"  sum_over_time({current}[{window}])\n"
        f"  - sum_over_time({current}[{recent}])\n"
        ")\n"
        "/\n"
        "(\n"
        f"  (count_over_time({current}[{window}]) - count_over_time({current}[{recent}])) > 0\n"
        ")"
    )


def spike_expr(baseline: CostBaseline, spike: SpikeAlert) -> str:
    current = current_selector(baseline)
    return (
        f"{current}\n"
        f"  >= ignoring(time_window)\n"
        f"{clean(Decimal(str(spike.factor)))} * {baseline_selector(baseline, spike.window)}\n"
        f"and ignoring(time_window)\n"
        f"{current} > {clean(Decimal(str(spike.min_cost_per_hour)))}"
    )


def spike_annotations(spec: Spec, baseline: CostBaseline, spike: SpikeAlert) -> dict[str, str]:
    factor = clean(Decimal(str(spike.factor)))
    url = spike.runbook_url or f"{spec.service.runbook_base_url}docs/alerts.md#{spike.name.lower()}"
    return {
        "summary": f"LLM cost is at least {factor}x its {spike.window} baseline",
        "description": (
            f"The LLM cost per hour over the last {baseline.rate_window} has been at least {factor} times its "
            f"average over the last {spike.window} (leaving out the most recent {baseline.exclude_recent}) for "
            f"{spike.for_}."
        ),
        "runbook_url": url,
    }


def spike_labels(spike: SpikeAlert) -> dict[str, str]:
    return {"severity": spike.severity, **spike.labels}


def llm_groups(spec: Spec) -> list[dict[str, Any]]:
    """The ``<service>.llm-cost`` rule group, or nothing when the spec has no cost baseline."""
    llm = spec.llm
    if llm is None or llm.baseline is None:
        return []
    baseline = llm.baseline
    cost = llm.metrics["cost"]
    rules: list[dict[str, Any]] = [
        {
            "record": baseline.current_record,
            "expr": current_expr(cost, baseline),
            "labels": {"time_window": baseline.rate_window},
        }
    ]
    for window in baseline.windows:
        rules.append(
            {
                "record": baseline.baseline_record,
                "expr": baseline_expr(baseline, window),
                "labels": {"time_window": window},
            }
        )
    if baseline.spike is not None:
        spike = baseline.spike
        rules.append(
            {
                "alert": spike.name,
                "expr": spike_expr(baseline, spike),
                "for": spike.for_,
                "labels": spike_labels(spike),
                "annotations": spike_annotations(spec, baseline, spike),
            }
        )
    return [{"name": f"{spec.service.name}.llm-cost", "interval": spec.service.evaluation_interval, "rules": rules}]


# --- generated promtool tests ------------------------------------------------------------------------------------


def _minutes(duration: str) -> int:
    return int(duration_seconds(duration) / 60)


def _series(cost: Metric) -> tuple[str, dict[str, str]]:
    labels: dict[str, str] = {}
    for label in cost.labels:
        labels[label.name] = sorted(label.values)[0] if label.values else "test"
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return (f"{cost.exposed_name}{{{inner}}}" if inner else cost.exposed_name), labels


def _values(segments: list[tuple[int, int]]) -> str:
    """promtool expanding notation for consecutive (per-minute increase, minutes) segments of a counter."""
    parts: list[str] = []
    value = 0
    first = True
    for rate, minutes in segments:
        if first:
            parts.append(f"{value}+{rate}x{minutes}")
            value += rate * minutes
            first = False
        else:
            value += rate
            parts.append(f"{value}+{rate}x{minutes - 1}")
            value += rate * (minutes - 1)
    return " ".join(parts)


def llm_tests(spec: Spec) -> list[TestGroup]:
    """promtool test groups for the spike alert (none without one, or with an evaluation interval over 1m)."""
    llm = spec.llm
    if llm is None or llm.baseline is None or llm.baseline.spike is None:
        return []
    baseline = llm.baseline
    spike = baseline.spike
    assert spike is not None
    if duration_seconds(spec.service.evaluation_interval) > 60:
        return []
    cost = llm.metrics["cost"]
    series, labels = _series(cost)
    kept = {k: v for k, v in labels.items() if k in baseline.by}
    history = _minutes(spike.window) + _minutes(baseline.exclude_recent) + 30  # steady: longer than the window
    factor = Decimal(str(spike.factor))
    doubled = int(STEADY * factor)  # "doubled" for the default factor 2: exactly at the threshold
    if doubled != STEADY * factor:
        doubled += 1
    fire_after = _minutes(baseline.rate_window) + _minutes(spike.for_)
    # the comparison ignoring(time_window) drops that label: the alert carries the `by` labels only
    alert_labels = {**kept, **spike_labels(spike)}
    firing = [{"exp_labels": alert_labels, "exp_annotations": spike_annotations(spec, baseline, spike)}]
    name = spike.name
    interval = "1m"

    def group(title: str, segments: list[tuple[int, int]], cases: list[tuple[int, bool]], **extra: Any) -> TestGroup:
        body: dict[str, Any] = {
            "name": f"llm cost: {title}",
            "interval": interval,
            "input_series": [{"series": series, "values": _values(segments)}],
            "alert_rule_test": [
                {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": firing if fires else []}
                for minute, fires in cases
            ],
        }
        body.update(extra)
        return TestGroup(body, spec.service.evaluation_interval, rule_group=f"{spec.service.name}.llm-cost")

    steady_per_hour = STEADY * 60
    base_sel = baseline_selector(baseline, spike.window)
    base_labels = "{" + ", ".join(f'{k}="{v}"' for k, v in {**kept, "time_window": spike.window}.items()) + "}"
    spike_minutes = fire_after + 60
    plus30 = STEADY * 13 // 10
    minus30 = STEADY * 7 // 10
    alternating: list[tuple[int, int]] = []
    for hour in range((history + spike_minutes) // 60 + 1):
        alternating.append((plus30 if hour % 2 else minus30, 60))
    return [
        group(
            f"{name} fires when the cost rate doubles",
            [(STEADY, history), (doubled, spike_minutes)],
            [(history, False), (history + fire_after - 2, False), (history + fire_after + 5, True)],
            promql_expr_test=[
                {
                    "expr": base_sel,
                    "eval_time": f"{history}m",
                    "exp_samples": [
                        {"labels": f"{baseline.baseline_record}{base_labels}", "value": float(steady_per_hour)}
                    ],
                }
            ],
        ),
        group(
            f"{name} stays silent when the cost rises by 30%",
            [(STEADY, history), (plus30, spike_minutes)],
            [(history + fire_after + 5, False), (history + spike_minutes, False)],
        ),
        group(
            f"{name} stays silent through hourly variation of +-30%",
            alternating,
            [(history + m, False) for m in range(0, spike_minutes + 1, 15)],
        ),
        group(
            f"{name} stays silent with zero cost, and the baseline is 0 (not NaN)",
            [(0, history + spike_minutes)],
            [(history + fire_after + 5, False)],
            promql_expr_test=[
                {
                    "expr": base_sel,
                    "eval_time": f"{history}m",
                    "exp_samples": [{"labels": f"{baseline.baseline_record}{base_labels}", "value": 0.0}],
                }
            ],
        ),
    ]
