"""datadog/threshold: a Datadog monitor whose query threshold differs from options.thresholds.critical."""

from __future__ import annotations

import re
from typing import Any

from jobpulse.lint.problem import ERROR, WARNING
from jobpulse.lint.registry import Context, check

_COMPARISON = re.compile(r"(?P<op>>=|<=|==|!=|>|<)\s*(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")


def query_threshold(query: str) -> float | None:
    match = _COMPARISON.search(query.strip())
    return float(match.group("number")) if match else None


@check("datadog/threshold", severity=ERROR)
def datadog_threshold(ctx: Context) -> None:
    """Datadog rejects a metric monitor whose query compares against another number than its critical threshold."""
    for monitor in ctx.doc.monitors:
        query = monitor.data.get("query")
        if not isinstance(query, str):
            continue
        number = query_threshold(query)
        if number is None:
            ctx.report(
                (*monitor.path, "query"),
                f"monitor {monitor.name!r}: the query has no comparison such as `> 0.05` at its end",
                hint="end the query with the critical threshold: avg(last_5m):<query> > N",
                subjects=(monitor.name,),
            )
            continue
        critical = _critical(monitor.data)
        if critical is None:
            ctx.report(
                (*monitor.path, "query"),
                f"monitor {monitor.name!r} has no options.thresholds.critical (the query says {number:g})",
                hint=f"set options.thresholds.critical to {number:g}",
                severity=WARNING,
                subjects=(monitor.name,),
            )
        elif critical != number:
            ctx.report(
                (*monitor.path, "options", "thresholds", "critical"),
                f"monitor {monitor.name!r}: options.thresholds.critical is {critical:g} "
                f"but the query compares against {number:g}",
                hint="make them equal; the Datadog API rejects the monitor otherwise",
                subjects=(monitor.name,),
            )


def _critical(data: dict[str, Any]) -> float | None:
    options = data.get("options")
    thresholds = options.get("thresholds") if isinstance(options, dict) else None
    value = thresholds.get("critical") if isinstance(thresholds, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
