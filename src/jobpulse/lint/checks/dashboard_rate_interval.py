"""dashboard/rate_interval: a fixed rate() range in a dashboard, where ``$__rate_interval`` fits."""

from __future__ import annotations

import re

import promql_parser as pp

from jobpulse.lint.helpers import TWO_SAMPLE_FUNCTIONS, parsed_queries
from jobpulse.lint.problem import WARNING
from jobpulse.lint.promql_ast import func
from jobpulse.lint.registry import Context, check

_FIXED = re.compile(r"\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*\]")
#: ranges of an hour or more are a deliberate window (a 24h increase), not smoothing
DELIBERATE = 3600.0


@check("dashboard/rate_interval", severity=WARNING)
def dashboard_rate_interval(ctx: Context) -> None:
    """A fixed range under 1h ([5m]) is wrong when zoomed in or out; Grafana's $__rate_interval adapts."""
    for query in parsed_queries(ctx):
        if query.kind != "panel":
            continue
        ranges = {
            arg.range.total_seconds()
            for node, _ in query.parsed.nodes
            if isinstance(node, pp.Call) and func(node) in TWO_SAMPLE_FUNCTIONS
            for arg in node.args
            if isinstance(arg, pp.MatrixSelector) and arg.range.total_seconds() < DELIBERATE
        }
        if not ranges:
            continue
        for match in _FIXED.finditer(query.expr):
            if _seconds(match.group(1)) not in ranges:
                continue
            ctx.report(
                query.path,
                f"fixed range {match.group()} in a dashboard query",
                query=query,
                at=match.group(),
                nth=_occurrence(query.expr, match),
                hint="use [$__rate_interval], which follows the zoom and the scrape interval",
            )


def _occurrence(text: str, match: re.Match[str]) -> int:
    return text.count(match.group(), 0, match.start())


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)))
