"""datadog/agreement: an alert's hand-written Datadog query disagrees with its PromQL on threshold or window."""

from __future__ import annotations

import math
from typing import Any

import promql_parser

from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.spec.datadog_query import DatadogQueryError, format_number, parse_monitor_query, window_seconds

_ABOVE = {">", ">="}


@check("datadog/agreement", severity=ERROR, needs_catalogue=True)
def datadog_agreement(ctx: Context) -> None:
    """An alert written in both forms (PromQL ``expr`` and ``datadog.query``) disagrees on threshold or window.

    Also on direction: ``>`` in one form and ``<`` in the other.
    """
    assert ctx.catalogue is not None
    if ctx.doc.catalogue is None or ctx.catalogue.spec.datadog is None:
        return  # only a spec holds both forms of one alert
    datadog = ctx.catalogue.spec.datadog.catalogue
    for i, alert in enumerate(ctx.doc.catalogue.wire.alerts):
        form = alert.datadog
        if form is None or isinstance(form, bool) or form.query is None:
            continue
        try:
            monitor = parse_monitor_query(form.query.strip())
            prometheus = _prometheus(alert.expr)
        except (DatadogQueryError, ValueError):
            continue  # the spec loader and datadog/syntax report these
        if prometheus is None:
            continue
        comparator, threshold, ranges, offsets = prometheus
        path = ("alerts", i, "datadog", "query")
        subjects = (alert.name,)
        hint = "change one form so both say the same, or let jobpulse translate expr (drop datadog.query)"
        if (comparator in _ABOVE) != (monitor.comparator in _ABOVE):
            ctx.report(
                path,
                f"alert {alert.name}: PromQL fires when the value is {comparator} {format_number(threshold)}, "
                f"Datadog when it is {monitor.comparator} {monitor.threshold_text}",
                at=monitor.comparator,
                hint=hint,
                subjects=subjects,
            )
        scale = 1.0
        for metric in monitor.metrics:
            entry = datadog.lookup(metric.metric)
            if entry is not None and metric.percentile is not None:
                scale = entry[0].scale
        expected = threshold * scale
        if not math.isclose(expected, monitor.threshold, rel_tol=1e-9, abs_tol=1e-12):
            unit = f" ({format_number(threshold)} × {format_number(scale)} for the Datadog unit)" if scale != 1 else ""
            ctx.report(
                path,
                f"alert {alert.name}: the Datadog threshold is {monitor.threshold_text} but the PromQL threshold is "
                f"{format_number(expected)}{unit}",
                at=monitor.threshold_text,
                nth=form.query.strip().count(monitor.threshold_text) - 1,
                hint=hint,
                subjects=subjects,
            )
        window = monitor.window_seconds
        wrong = sorted(r for r in ranges if r != window)
        if wrong:
            ctx.report(
                path,
                f"alert {alert.name}: the Datadog window is {monitor.window} but the PromQL range is "
                f"{_duration(wrong[0])}",
                at=monitor.window,
                hint=hint,
                subjects=subjects,
            )
        if monitor.shift is not None and offsets:
            shift = parse_shift(monitor.shift)
            if any(offset != shift for offset in offsets):
                ctx.report(
                    path,
                    f"alert {alert.name}: the Datadog change compares with {monitor.shift} ago but the PromQL "
                    f"offset is {_duration(sorted(offsets)[0])}",
                    at=monitor.shift,
                    hint=hint,
                    subjects=subjects,
                )


def parse_shift(shift: str) -> float:
    seconds = window_seconds(shift)
    return seconds if seconds is not None else math.nan


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _prometheus(expr: str) -> tuple[str, float, set[float], set[float]] | None:
    """(comparator, threshold, ranges, offsets) of a PromQL alert ``... > N``; None for another shape."""
    ast = promql_parser.parse(expr)
    if not isinstance(ast, promql_parser.BinaryExpr) or not isinstance(ast.rhs, promql_parser.NumberLiteral):
        return None
    comparator = str(ast.op)
    if comparator not in (">", "<", ">=", "<="):
        return None
    ranges: set[float] = set()
    offsets: set[float] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.MatrixSelector):
            ranges.add(node.range.total_seconds())
            if node.vector_selector.offset is not None:
                offsets.add(abs(node.vector_selector.offset.total_seconds()))
        return True

    promql_parser.walk(ast.lhs, pre_visit=visit)
    return comparator, float(ast.rhs.val), ranges, offsets
