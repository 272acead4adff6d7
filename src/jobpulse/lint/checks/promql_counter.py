"""promql/counter: a counter used as it is, without rate() or increase()."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.helpers import consumer, parsed_queries, selector_name, series_type
from jobpulse.lint.problem import ERROR, WARNING
from jobpulse.lint.promql_ast import func, op
from jobpulse.lint.registry import Context, check

#: functions and aggregations for which a raw counter is fine
COUNTER_FUNCTIONS = frozenset(
    {
        "rate",
        "irate",
        "increase",
        "resets",
        "changes",
        "absent",
        "absent_over_time",
        "present_over_time",
        "count_over_time",
        "timestamp",
    }
)
COUNTER_AGGREGATIONS = frozenset({"count", "group"})


def _value_blind(parents: tuple[object, ...]) -> bool:
    """The counter's value never reaches the result: ``count(sum by (instance, cpu) (node_cpu_seconds_total))``.

    Walking up from the selector through aggregations, joins and parentheses, a count()/group() (which see
    only which series exist) makes the value irrelevant; a function or a comparison on the way does not.
    """
    for node in reversed(parents):
        if isinstance(node, pp.AggregateExpr):
            if op(node) in COUNTER_AGGREGATIONS:
                return True
            continue
        if isinstance(node, pp.ParenExpr | pp.MatrixSelector | pp.SubqueryExpr):
            continue
        if isinstance(node, pp.BinaryExpr) and op(node) in {"*", "+", "-", "/"}:
            continue
        return False
    return False


@check("promql/counter", severity=ERROR)
def promql_counter(ctx: Context) -> None:
    """A counter's raw value (a total since the process started) is compared, summed or graphed."""
    for query in parsed_queries(ctx):
        reported: set[str] = set()
        for selector, parents in query.parsed.selectors:
            name = selector_name(selector)
            if not name or name in reported or series_type(name, ctx.catalogue) != "counter":
                continue
            user = consumer(parents)
            if isinstance(user, pp.Call) and func(user) in COUNTER_FUNCTIONS:
                continue
            if _value_blind(parents):
                continue
            reported.add(name)
            known = ctx.catalogue is not None and ctx.catalogue.series_type(name) == "counter"
            ctx.report(
                query.path,
                f"{name} is a counter{'' if known else ' (by its name)'}: its raw value only grows and resets "
                "on restart",
                query=query,
                at=name,
                hint=f"use rate({name}[5m]) or increase({name}[1h])",
                # the catalogue says it is a counter: an error; a _total name only suggests it: a warning
                severity=None if known else WARNING,
                subjects=(name,),
            )
