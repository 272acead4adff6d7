"""What a PromQL query refers to: metric names, label matchers and grouping labels.

Grafana macros (``$__rate_interval``, ``$env``) are substituted before parsing so that dashboard
queries parse like rule expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import promql_parser

_RANGE_MACRO = re.compile(r"\[\s*\$\{?__\w+\}?\s*(?::\s*[^\]]*)?\]")
_MACRO = re.compile(r"\$\{?(__\w+|\w+)(?::\w+)?\}?")
#: what a Grafana variable (``$env``) becomes for parsing; a matcher value holding it matches any value
VARIABLE_PLACEHOLDER = "jobpulse_var"


def substitute_grafana_macros(query: str) -> str:
    """Replace Grafana variables with placeholders that parse (``[$__rate_interval]`` → ``[5m]``)."""
    query = _RANGE_MACRO.sub("[5m]", query)
    return _MACRO.sub(lambda m: "300" if m.group(1) in {"__range_s", "__interval_ms"} else VARIABLE_PLACEHOLDER, query)


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    """A vector selector: ``name{matchers}`` (name may be empty when only ``__name__`` matchers are used)."""

    name: str
    matchers: tuple[Matcher, ...]
    range: bool = False


@dataclass
class QueryRefs:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)
    created_labels: set[str] = field(default_factory=set)
    functions: list[str] = field(default_factory=list)


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _op(op: Any) -> str:
    name = str(op).rsplit(".", 1)[-1]
    return _OPS.get(name, name)


def parse(query: str) -> Any:
    """Parse PromQL (Grafana macros substituted); raises ValueError with the parser's message."""
    return promql_parser.parse(substitute_grafana_macros(query))


def references(query: str) -> QueryRefs:
    """Collect the selectors, grouping labels and functions a query uses; raises ValueError if it does not parse."""
    refs = QueryRefs()
    ast = parse(query)

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple(Matcher(m.name, _op(m.op), m.value) for m in node.matchers.matchers)
            refs.selectors.append(Selector(node.name or "", matchers))
        elif isinstance(node, promql_parser.AggregateExpr):
            if node.modifier is not None:
                refs.grouping_labels.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr):
            modifier = node.modifier
            if modifier is not None:
                if modifier.matching is not None:
                    refs.grouping_labels.update(modifier.matching.labels)
                refs.grouping_labels.update(modifier.group_labels or [])
        elif isinstance(node, promql_parser.Call):
            name = node.func.name
            refs.functions.append(name)
            if name in {"label_replace", "label_join"} and len(node.args) > 1:
                target = node.args[1]
                if isinstance(target, promql_parser.StringLiteral):
                    refs.created_labels.add(target.val)
        return True

    promql_parser.walk(ast, pre_visit=visit)
    return refs
