"""alerts/comparison: an alert expression without a condition fires whenever the series exists."""

from __future__ import annotations

from typing import Any

import promql_parser as pp

from jobpulse.lint.problem import WARNING
from jobpulse.lint.promql_ast import COMPARISONS, func, is_comparison, op, unwrap, walk
from jobpulse.lint.registry import Context, check

_CONDITIONS = frozenset({"absent", "absent_over_time"})


@check("alerts/comparison", severity=WARNING)
def alerts_comparison(ctx: Context) -> None:
    """The alert's expression has no comparison (``> 0.1``) or absent(), so it fires for every series."""
    for rule in ctx.doc.rules:
        if rule.alert is None:
            continue
        ast = rule.query.parsed.ast
        if ast is None or _has_condition(ast):
            continue
        uses_bool = any(
            isinstance(n, pp.BinaryExpr) and op(n) in COMPARISONS and not is_comparison(n)
            for n, _ in rule.query.parsed.nodes
        )
        message = (
            "the comparison uses `bool`, so it returns 0 or 1 for every series and the alert always fires"
            if uses_bool
            else "the alert has no comparison: it fires for every series the expression returns"
        )
        ctx.report(
            rule.query.path,
            message,
            query=rule.query,
            hint="add a condition such as `> 0.1`, or use absent() for a missing series",
            subjects=(rule.alert,),
        )


def _has_condition(node: Any) -> bool:
    node = unwrap(node)
    if is_comparison(node):
        return True
    if isinstance(node, pp.Call) and func(node) in _CONDITIONS:
        return True
    if isinstance(node, pp.BinaryExpr) and op(node) in {"and", "or"}:
        return _has_condition(node.lhs) or _has_condition(node.rhs)
    if isinstance(node, pp.BinaryExpr) and op(node) == "unless":
        return True  # `a unless b`: the right side decides which series are left (a presence condition)
    if isinstance(node, pp.Call) and func(node) == "vector":
        return True  # vector(1): a deliberate always-firing alert (Watchdog, dead man's switch)
    # a filter anywhere inside (sum(rate(x[5m]) > 0)) still decides which series exist
    return any(is_comparison(n) or (isinstance(n, pp.Call) and func(n) in _CONDITIONS) for n, _ in walk(node))
