"""datadog/threshold_order: a monitor's warning or recovery threshold is on the wrong side of the one it relaxes."""

from __future__ import annotations

from typing import Any

from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.spec.datadog import DatadogThresholds
from jobpulse.spec.datadog_query import DatadogQueryError, parse_monitor_query
from jobpulse.spec.datadog_resolve import threshold_problems


@check("datadog/threshold_order", severity=ERROR)
def datadog_threshold_order(ctx: Context) -> None:
    """Warning and recovery thresholds must be on the healthy side of the threshold they relax (no overlap)."""
    for monitor in ctx.doc.monitors:
        query = monitor.data.get("query")
        options = monitor.data.get("options")
        thresholds = options.get("thresholds") if isinstance(options, dict) else None
        if not isinstance(query, str) or not isinstance(thresholds, dict):
            continue
        try:
            parsed = parse_monitor_query(query.strip())
        except DatadogQueryError:
            continue  # datadog/syntax reports it
        values = {key: _number(thresholds.get(key)) for key in ("warning", "critical_recovery", "warning_recovery")}
        critical = _number(thresholds.get("critical"))
        path = (*monitor.path, "options", "thresholds")
        if critical is None:
            if values["warning"] is not None:
                ctx.report(
                    path,
                    f"monitor {monitor.name!r} has a warning threshold but no critical one",
                    hint="Datadog refuses a warning without a critical threshold: add options.thresholds.critical",
                    subjects=(monitor.name,),
                )
            continue
        for message in threshold_problems(parsed.comparator, DatadogThresholds(critical, **values)):
            ctx.report(
                path,
                f"monitor {monitor.name!r}: {message}",
                hint="alert thresholds and their recoveries must not overlap; Datadog refuses the monitor otherwise",
                subjects=(monitor.name,),
            )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
