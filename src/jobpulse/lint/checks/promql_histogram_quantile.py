"""promql/histogram_quantile: quantiles over something that is not a bucket series, or with ``le`` lost."""

from __future__ import annotations

from typing import Any

import promql_parser as pp

from jobpulse.lint.helpers import parsed_queries, selector_name
from jobpulse.lint.problem import ERROR, WARNING
from jobpulse.lint.promql_ast import func, op, selectors, walk
from jobpulse.lint.registry import Context, check

_NOT_BUCKETS = ("_total", "_count", "_sum", "_created")
_KEEPING = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


@check("promql/histogram_quantile", severity=ERROR)
def promql_histogram_quantile(ctx: Context) -> None:
    """histogram_quantile() needs ``_bucket`` series and an aggregation that keeps ``le``."""
    for query in parsed_queries(ctx):
        for node, _ in query.parsed.nodes:
            if not isinstance(node, pp.Call) or func(node) != "histogram_quantile" or len(node.args) != 2:
                continue
            _check_call(ctx, query, node.args[1])


def _check_call(ctx: Context, query: Any, arg: Any) -> None:
    for selector, _ in selectors(arg):
        name = selector_name(selector)
        if not name or name in ctx.doc.recorded or ":" in name:
            continue
        problem = _not_buckets(ctx, name)
        if problem:
            ctx.report(
                query.path,
                problem,
                query=query,
                at=name,
                hint="pass the histogram's _bucket series: histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))",
                subjects=(name,),
            )
            return
    # only aggregations the buckets flow through: the "one" side of a group_left join (max by (node)
    # (kubelet_node_name)) never had le
    aggregations = [n for n, _ in walk(arg) if isinstance(n, pp.AggregateExpr) and _over_buckets(ctx, n)]
    for aggregation in aggregations:
        name = op(aggregation)
        if name in _KEEPING:
            continue
        modifier = aggregation.modifier
        if modifier is None:
            lost = True
        elif modifier.type == pp.AggModifierType.Without:
            lost = "le" in modifier.labels
        else:
            lost = "le" not in modifier.labels
        if lost:
            grouping = "" if modifier is None else f" {str(modifier.type).rsplit('.', 1)[-1].lower()} (...)"
            ctx.report(
                query.path,
                f"{name}{grouping} inside histogram_quantile() aggregates the le label away: the result is empty",
                query=query,
                at=name,
                hint="keep le: sum by (le) (...), or by (le, <labels you want>)",
            )
            return
    if not aggregations:
        ctx.report(
            query.path,
            "histogram_quantile() without sum by (le): one quantile per series (instance, pod, every label)",
            query=query,
            at="histogram_quantile",
            hint="aggregate the buckets first: histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))",
            severity=WARNING,
        )


def _over_buckets(ctx: Context, node: Any) -> bool:
    """Whether a bucket series (or one whose kind is unknown) is under ``node``."""
    for selector, _ in selectors(node):
        name = selector_name(selector)
        if not name or name.endswith("_bucket") or name in ctx.doc.recorded or ":" in name:
            return True
        if ctx.catalogue is not None and (entry := ctx.catalogue.metric(name)) is not None and "le" in entry[1]:
            return True
    return False


def _not_buckets(ctx: Context, name: str) -> str | None:
    catalogue = ctx.catalogue
    if catalogue is not None:
        entry = catalogue.metric(name)
        if entry is not None:
            metric, extra = entry
            if "le" in extra:
                return None
            if metric.type == "histogram":
                return f"{name} is not a bucket series: histogram_quantile() needs {metric.name}_bucket"
            return f"{name} is a {metric.type}, not a histogram's _bucket series"
        if name in catalogue.spec.metrics and catalogue.spec.metrics[name].type == "histogram":
            return f"{name} is not a bucket series: histogram_quantile() needs {name}_bucket"
    if name.endswith(_NOT_BUCKETS):
        return f"{name} is not a bucket series: histogram_quantile() needs a _bucket series"
    return None
