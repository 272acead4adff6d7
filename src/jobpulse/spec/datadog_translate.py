"""Translate an alert's PromQL into a Datadog monitor query, for the forms that have an exact counterpart.

=========================================================  ==============================================
PromQL                                                     Datadog
=========================================================  ==============================================
``sum(rate(x_total{env="prod"}[5m]))``                     ``avg(last_5m):sum:x{env:prod}.as_rate()``
``sum(increase(x_total[10m]))``                            ``sum(last_10m):sum:x{*}.as_count()``
``avg(avg_over_time(g[2m]))`` (also max/min_over_time)     ``avg(last_2m):avg:g{*}``
``histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))``  ``percentile(last_5m):p95:h{*}``
``a / b``, ``a * 100``, ``(a)``                            the same arithmetic
``x{status=~"5.."}`` with a derived counter for it         the derived counter (``prompter.http.status.5xx``)
=========================================================  ==============================================

The expression must end with a comparison to a number (the critical threshold), every range must be the
same (it becomes the window), and an outer ``sum``/``avg``/``min``/``max`` (``by`` allowed) must say how series
are combined. Anything else raises :class:`TranslationError` naming what to write by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import promql_parser

from jobpulse.spec.datadog import DatadogCatalogue, DatadogMetric
from jobpulse.spec.datadog_query import format_number

__all__ = ["Translated", "TranslationError", "translate"]

_COMPARISONS = {">": ">", "<": "<", ">=": ">=", "<=": "<="}
_SPACE = {"sum", "avg", "min", "max"}
_OVER_TIME = {"avg_over_time": "avg", "max_over_time": "max", "min_over_time": "min"}
_ARITHMETIC = {"+", "-", "*", "/"}


class TranslationError(ValueError):
    """The PromQL has no exact Datadog counterpart that jobpulse writes; the message says why."""


@dataclass(frozen=True)
class Translated:
    query: str
    window_seconds: float
    threshold: float  # in Datadog units (scaled like the metric)
    comparator: str


@dataclass
class _State:
    catalogue: DatadogCatalogue
    series: dict[str, tuple[DatadogMetric, str]]  # exposed series name → (metric, suffix)
    windows: set[float]
    time_aggregations: set[str]
    scale: float | None = None


def translate(expr: str, catalogue: DatadogCatalogue) -> Translated:
    """The Datadog monitor query for ``expr``; raises :class:`TranslationError`."""
    try:
        ast = promql_parser.parse(expr)
    except ValueError as exc:
        raise TranslationError(f"invalid PromQL: {str(exc).strip().splitlines()[0]}") from None
    if not isinstance(ast, promql_parser.BinaryExpr) or str(ast.op) not in _COMPARISONS:
        raise TranslationError("the expression must end with a comparison such as `> 0.01`")
    if not isinstance(ast.rhs, promql_parser.NumberLiteral):
        raise TranslationError("the comparison must be against a number (the critical threshold)")
    if ast.modifier is not None and getattr(ast.modifier, "return_bool", False):
        raise TranslationError("a `bool` comparison has no Datadog counterpart")
    series: dict[str, tuple[DatadogMetric, str]] = {}
    for metric in catalogue.metrics.values():
        for name in metric.source.series_names:
            series[name] = (metric, name.removeprefix(metric.source.name))
    state = _State(catalogue, series, set(), set())
    body = _value(ast.lhs, state, top=True)
    if not state.windows:
        raise TranslationError("no range such as [5m] in the expression: the window of the monitor is unknown")
    if len(state.windows) > 1 or len(state.time_aggregations) > 1:
        raise TranslationError("every part of the expression must use the same range and kind (rate, increase, ...)")
    window = state.windows.pop()
    time_aggregation = state.time_aggregations.pop()
    threshold = float(ast.rhs.val) * (state.scale or 1.0)
    comparator = _COMPARISONS[str(ast.op)]
    query = f"{time_aggregation}({_window(window)}):{body} {comparator} {format_number(threshold)}"
    return Translated(query, window, threshold, comparator)


def _window(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"last_{int(seconds // size)}{unit}"
    raise TranslationError(f"a range of {seconds:g}s is not a whole number of minutes, as Datadog windows are")


def _value(node: Any, state: _State, *, top: bool = False) -> str:
    if isinstance(node, promql_parser.ParenExpr):
        return f"({_value(node.expr, state)})"
    if isinstance(node, promql_parser.NumberLiteral):
        return format_number(float(node.val))
    if isinstance(node, promql_parser.BinaryExpr):
        op = str(node.op)
        if op not in _ARITHMETIC:
            raise TranslationError(f"`{op}` inside the expression has no Datadog counterpart")
        if node.modifier is not None and (node.modifier.matching is not None or node.modifier.card is not None):
            matching = node.modifier.matching
            if matching is not None and list(matching.labels):
                raise TranslationError("on()/ignoring() vector matching has no Datadog counterpart")
        return f"{_value(node.lhs, state)} {op} {_value(node.rhs, state)}"
    if isinstance(node, promql_parser.AggregateExpr):
        return _aggregate(node, state)
    if isinstance(node, promql_parser.Call) and node.func.name == "histogram_quantile":
        return _quantile(node, state)
    raise TranslationError(
        "wrap each series in sum(...), avg(...), min(...) or max(...) (with `by` if needed): Datadog combines "
        f"series explicitly; got `{node}`"
    )


def _aggregate(node: Any, state: _State) -> str:
    op = str(node.op)
    if op not in _SPACE:
        raise TranslationError(f"{op}(...) has no Datadog space aggregation; use sum, avg, min or max")
    by = _by(node)
    inner = node.expr
    if not isinstance(inner, promql_parser.Call):
        raise TranslationError(f"{op}(...) must hold rate(), increase() or a *_over_time() of one metric")
    name = inner.func.name
    if name not in ("rate", "increase", *_OVER_TIME) or len(inner.args) != 1:
        raise TranslationError(f"{name}() has no Datadog counterpart here; use rate, increase or *_over_time")
    matrix = inner.args[0]
    if not isinstance(matrix, promql_parser.MatrixSelector):
        raise TranslationError(f"{name}() must take a range selector such as x[5m]")
    metric, query = _selector(matrix, state, counter=name in ("rate", "increase"))
    if name == "rate":
        state.time_aggregations.add("avg")
        return f"{op}:{query}{by}.as_rate()"
    if name == "increase":
        state.time_aggregations.add("sum")
        return f"{op}:{query}{by}.as_count()"
    if metric.type != "gauge":
        raise TranslationError(f"{name}() is for gauges; {metric.source.name} is a {metric.source.type}")
    state.time_aggregations.add(_OVER_TIME[name])
    return f"{op}:{query}{by}"


def _by(node: Any) -> str:
    modifier = node.modifier
    if modifier is None:
        return ""
    if str(modifier).startswith("without"):
        raise TranslationError("`without` has no Datadog counterpart; name the labels with `by`")
    labels = [label for label in modifier.labels if label != "le"]
    return " by {" + ",".join(labels) + "}" if labels else ""


def _quantile(node: Any, state: _State) -> str:
    args = list(node.args)
    if len(args) != 2 or not isinstance(args[0], promql_parser.NumberLiteral):
        raise TranslationError("histogram_quantile needs a literal quantile such as 0.95")
    quantile = float(args[0].val)
    aggregate = args[1]
    if (
        not isinstance(aggregate, promql_parser.AggregateExpr)
        or str(aggregate.op) != "sum"
        or not isinstance(aggregate.expr, promql_parser.Call)
        or aggregate.expr.func.name != "rate"
        or not isinstance(aggregate.expr.args[0], promql_parser.MatrixSelector)
    ):
        raise TranslationError("write the quantile as histogram_quantile(q, sum by (le) (rate(x_bucket[5m])))")
    if aggregate.modifier is None or "le" not in list(aggregate.modifier.labels):
        raise TranslationError("histogram_quantile needs `sum by (le)`: without le there are no buckets")
    metric, query = _selector(aggregate.expr.args[0], state, counter=False, bucket=True)
    state.time_aggregations.add("percentile")
    state.scale = metric.scale
    percentile = format_number(round(quantile * 100, 6))
    return f"p{percentile}:{query}{_by(aggregate)}"


def _selector(matrix: Any, state: _State, *, counter: bool, bucket: bool = False) -> tuple[DatadogMetric, str]:
    selector = matrix.vector_selector
    if selector.offset is not None or getattr(selector, "at", None) is not None:
        raise TranslationError("offset and @ have no Datadog counterpart in a metric monitor")
    entry = state.series.get(selector.name or "")
    if entry is None:
        raise TranslationError(f"{selector.name} is not in the catalogue")
    metric, suffix = entry
    if bucket and suffix != "_bucket":
        raise TranslationError(f"histogram_quantile needs {metric.source.name}_bucket, got {selector.name}")
    if not bucket and metric.type == "distribution":
        raise TranslationError(
            f"{selector.name}: only quantiles of histograms translate (Datadog distributions give percentiles)"
        )
    if counter and metric.type != "count":
        raise TranslationError(f"rate()/increase() are for counters; {metric.source.name} is a {metric.source.type}")
    state.windows.add(matrix.range.total_seconds())
    name = metric.name
    tags: list[str] = []
    equal: dict[str, str] = {}
    regex: dict[str, str] = {}
    for matcher in selector.matchers.matchers:
        op = str(matcher.op).rsplit(".", 1)[-1]
        if matcher.name == "__name__":
            continue
        if op == "Equal":
            equal[matcher.name] = matcher.value
        elif op == "NotEqual":
            tags.append(f"!{matcher.name}:{matcher.value}")
        elif op.startswith("Re"):
            regex[matcher.name] = matcher.value
        else:
            raise TranslationError(f'{matcher.name}!~"{matcher.value}": negative regular expressions do not translate')
    if regex:
        derived = next((d for d in metric.derived if dict(d.where) == regex), None)
        if derived is None:
            wanted = ", ".join(f'{k}=~"{v}"' for k, v in regex.items())
            raise TranslationError(
                f"{wanted} on {metric.source.name}: declare a derived Datadog counter for it "
                f"(datadog.metrics.{metric.source.name}.derived) or write the Datadog query by hand"
            )
        name = derived.name
    tags = [f"{k}:{v}" for k, v in equal.items()] + tags
    return metric, f"{name}{{{','.join(tags) or '*'}}}"
