"""Small helpers shared by checks: metric types and label sets with or without a catalogue."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

import promql_parser as pp

from jobpulse.lint import promql_ast
from jobpulse.lint.catalogue import SYNTHETIC_SERIES, Catalogue
from jobpulse.lint.documents import Query
from jobpulse.lint.known_metrics import known_type
from jobpulse.lint.registry import Context

#: functions that turn a counter into something meaningful
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
#: functions over a range that need at least two samples in it
TWO_SAMPLE_FUNCTIONS = frozenset({"rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear"})


def parsed_queries(ctx: Context) -> Iterator[Query]:
    """Every query of the document that parses (``query.parsed.nodes`` is its walked AST)."""
    for query in ctx.doc.queries:
        if query.parsed.ast is not None:
            yield query


def selector_name(selector: Any) -> str:
    """A selector's metric name, also when written as ``{__name__="x"}``."""
    if selector.name:
        return str(selector.name)
    for label, op, value in promql_ast.matchers(selector):
        if label == "__name__" and op == "=":
            return value
    return ""


def labels_of(ctx: Context) -> promql_ast.LabelsOf:
    catalogue = ctx.catalogue
    recorded = ctx.doc.recorded

    def lookup(name: str) -> frozenset[str] | None:
        if catalogue is None or name in recorded:
            return None
        return catalogue.labels_of(name)

    return lookup


def series_type(name: str, catalogue: Catalogue | None) -> str | None:
    """``counter`` or ``gauge`` from the catalogue, else the built-in list of well-known metrics
    (:mod:`jobpulse.lint.known_metrics`); otherwise ``_total`` and ``_bucket`` names mark counters."""
    if catalogue is not None:
        known = catalogue.series_type(name)
        if known is not None:
            return known
    builtin = known_type(name)
    if builtin is not None:
        return builtin
    if ":" in name or name in SYNTHETIC_SERIES:
        return None
    if name.endswith(("_total", "_bucket")):
        return "counter"
    return None


def closest(name: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, sorted(choices), n=1)
    return f"; did you mean {found[0]!r}?" if found else ""


def consumer(parents: tuple[Any, ...]) -> Any:
    """The nearest ancestor that does something with a selector (skipping parens, ranges, subqueries)."""
    for node in reversed(parents):
        if not isinstance(node, pp.ParenExpr | pp.MatrixSelector | pp.SubqueryExpr):
            return node
    return None
