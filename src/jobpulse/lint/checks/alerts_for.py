"""alerts/for: an alert without ``for`` on an expression that flaps."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.catalogue import duration_seconds
from jobpulse.lint.problem import WARNING
from jobpulse.lint.promql_ast import func, op, shape
from jobpulse.lint.registry import Context, check

_FLAPPY = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv", "absent", "absent_over_time", "histogram_quantile"}
)


@check("alerts/for", severity=WARNING)
def alerts_for(ctx: Context) -> None:
    """Rates, ratios, quantiles and absent() move around; without ``for`` one bad evaluation pages someone."""
    for rule in ctx.doc.rules:
        if rule.alert is None:
            continue
        if rule.for_ is not None and duration_seconds(rule.for_) is not None:
            continue  # written on purpose, `for: 0m` included (awesome-prometheus-alerts does so)
        ast = rule.query.parsed.ast
        if ast is None:
            continue
        reason = _flappy(rule.query.parsed.nodes)
        if reason is None:
            continue
        ctx.report(
            rule.path,
            f"alert {rule.alert} has no `for` but uses {reason}, which flaps: one evaluation fires it",
            hint="add `for: 5m` (or longer than a few evaluation intervals)",
            key=True,
            subjects=(rule.alert,),
        )


def _flappy(nodes: list[tuple[object, tuple[object, ...]]]) -> str | None:
    for node, _ in nodes:
        if isinstance(node, pp.Call) and func(node) in _FLAPPY:
            return f"{func(node)}()"
        if isinstance(node, pp.BinaryExpr) and op(node) == "/":
            left, right = shape(node.lhs, lambda _: None), shape(node.rhs, lambda _: None)
            if left.kind == "vector" and right.kind == "vector":
                return "a ratio"
    return None
