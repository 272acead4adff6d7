"""Helpers over promql_parser's AST: walking with parents, operators, and which labels a result carries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import promql_parser as pp

from jobpulse.spec.promql import substitute_grafana_macros

COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})
#: the placeholder :func:`substitute_grafana_macros` puts where a Grafana variable was
VARIABLE = "jobpulse_var"
_GROUPING_AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile"})
_KEEPING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})

LabelsOf = Callable[[str], frozenset[str] | None]


@dataclass
class Parsed:
    """A query as written, its AST (None when it does not parse) and the parser's message."""

    text: str
    ast: Any
    error: str | None
    _nodes: list[tuple[Any, tuple[Any, ...]]] | None = field(default=None, repr=False)

    @property
    def nodes(self) -> list[tuple[Any, tuple[Any, ...]]]:
        """Every node with its ancestors, walked once (promql_parser builds new objects on each access)."""
        if self._nodes is None:
            self._nodes = list(walk(self.ast)) if self.ast is not None else []
        return self._nodes

    @property
    def selectors(self) -> list[tuple[Any, tuple[Any, ...]]]:
        return [(n, p) for n, p in self.nodes if isinstance(n, pp.VectorSelector)]


def parse(text: str) -> Parsed:
    try:
        return Parsed(text, pp.parse(substitute_grafana_macros(text)), None)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):  # pragma: no cover
        raise
    except BaseException as exc:  # the Rust parser can raise a PanicException (a BaseException)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        return Parsed(text, None, message)


def children(node: Any) -> list[Any]:
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.AggregateExpr):
        return [n for n in (node.param, node.expr) if n is not None]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, pp.SubqueryExpr | pp.ParenExpr | pp.UnaryExpr):
        return [node.expr]
    return []


def walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node with its ancestors (nearest last), depth first."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(node, parents)]
    while stack:
        current, ancestors = stack.pop()
        yield current, ancestors
        below = (*ancestors, current)
        stack.extend((child, below) for child in reversed(children(current)))


def op(node: Any) -> str:
    return str(node.op).strip()


def func(node: Any) -> str:
    return str(node.func.name) if isinstance(node, pp.Call) else ""


def unwrap(node: Any) -> Any:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def is_comparison(node: Any) -> bool:
    """A filtering comparison (``>`` without ``bool``)."""
    if not isinstance(node, pp.BinaryExpr) or op(node) not in COMPARISONS:
        return False
    return not (node.modifier is not None and node.modifier.return_bool)


def selectors(ast: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    for node, parents in walk(ast):
        if isinstance(node, pp.VectorSelector):
            yield node, parents


def matchers(selector: Any) -> list[tuple[str, str, str]]:
    """(label, op, value) of a selector's matchers, with ``=``, ``!=``, ``=~``, ``!~`` as ops."""
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
    out = []
    for m in selector.matchers.matchers:
        out.append((m.name, ops.get(str(m.op).rsplit(".", 1)[-1], str(m.op)), m.value))
    for group in selector.matchers.or_matchers:
        for m in group:
            out.append((m.name, ops.get(str(m.op).rsplit(".", 1)[-1], str(m.op)), m.value))
    return out


def is_variable(value: str) -> bool:
    return VARIABLE in value


# --- the labels a result carries ------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What an expression returns: a scalar, a string, or a vector whose labels are known (or None)."""

    kind: str  # "scalar" | "string" | "vector"
    labels: frozenset[str] | None = None


SCALAR = Shape("scalar")
STRING = Shape("string")
UNKNOWN = Shape("vector", None)


def shape(node: Any, labels_of: LabelsOf) -> Shape:
    """The labels of ``node``'s result, as far as they can be known from the catalogue."""
    if isinstance(node, pp.NumberLiteral):
        return SCALAR
    if isinstance(node, pp.StringLiteral):
        return STRING
    if isinstance(node, pp.VectorSelector):
        return Shape("vector", labels_of(node.name) if node.name else None)
    if isinstance(node, pp.MatrixSelector):
        return shape(node.vector_selector, labels_of)
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return shape(node.expr, labels_of)
    if isinstance(node, pp.Call):
        return _call_shape(node, labels_of)
    if isinstance(node, pp.AggregateExpr):
        return _aggregate_shape(node, labels_of)
    if isinstance(node, pp.BinaryExpr):
        return _binary_shape(node, labels_of)
    return UNKNOWN


def _call_shape(node: Any, labels_of: LabelsOf) -> Shape:
    name = func(node)
    returns = str(node.func.return_type).rsplit(".", 1)[-1]
    if returns == "Scalar":
        return SCALAR
    if returns == "String":
        return STRING
    if name == "vector":
        return Shape("vector", frozenset())
    if name in {"absent", "absent_over_time", "info"}:
        return UNKNOWN
    vector_args = [a for a in node.args if not isinstance(unwrap(a), pp.NumberLiteral | pp.StringLiteral)]
    if not vector_args:
        return UNKNOWN
    inner = shape(vector_args[0], labels_of)
    if inner.kind != "vector" or inner.labels is None:
        return UNKNOWN if inner.kind != "scalar" else inner
    if name in {"label_replace", "label_join"} and len(node.args) > 1:
        target = unwrap(node.args[1])
        if isinstance(target, pp.StringLiteral):
            return Shape("vector", inner.labels | {target.val})
        return UNKNOWN
    if name == "histogram_quantile":
        return Shape("vector", inner.labels - {"le"})
    return Shape("vector", inner.labels)


def _aggregate_shape(node: Any, labels_of: LabelsOf) -> Shape:
    inner = shape(node.expr, labels_of)
    name = op(node)
    modifier = node.modifier
    if name in _KEEPING_AGGREGATIONS:
        return inner
    extra: frozenset[str] = frozenset()
    if name == "count_values":
        param = unwrap(node.param) if node.param is not None else None
        if not isinstance(param, pp.StringLiteral):
            return UNKNOWN
        extra = frozenset({param.val})
    elif name not in _GROUPING_AGGREGATIONS:
        return UNKNOWN
    if modifier is None:
        return Shape("vector", extra)
    labels = frozenset(modifier.labels)
    if modifier.type == pp.AggModifierType.Without:
        return Shape("vector", None if inner.labels is None else (inner.labels - labels) | extra)
    if inner.labels is not None:
        labels &= inner.labels
    return Shape("vector", labels | extra)


def _binary_shape(node: Any, labels_of: LabelsOf) -> Shape:
    left, right = shape(node.lhs, labels_of), shape(node.rhs, labels_of)
    if left.kind == "scalar" and right.kind == "scalar":
        return SCALAR
    if left.kind == "scalar":
        return right
    if right.kind == "scalar":
        return left
    name = op(node)
    if name in {"and", "unless"}:
        return left
    if name == "or":
        return left if left == right else UNKNOWN
    modifier = node.modifier
    card = str(modifier.card).rsplit(".", 1)[-1] if modifier is not None else "OneToOne"
    extra = frozenset(modifier.group_labels or []) if modifier is not None else frozenset()
    if card == "OneToMany":
        return Shape("vector", None if right.labels is None else right.labels | extra)
    if card == "ManyToOne":
        return Shape("vector", None if left.labels is None else left.labels | extra)
    return left


def matching_problem(node: Any, labels_of: LabelsOf) -> str | None:
    """Why the two sides of a vector-to-vector operation can never match, or None when they can (or may)."""
    if not isinstance(node, pp.BinaryExpr) or op(node) in {"or", "unless"}:
        return None
    left, right = shape(node.lhs, labels_of), shape(node.rhs, labels_of)
    if left.kind != "vector" or right.kind != "vector":
        return None
    matching = node.modifier.matching if node.modifier is not None else None
    if matching is not None and matching.type == pp.LabelModifierType.Include:
        # on(...) labels must exist on each side: a side whose labels are known can be checked alone
        labels = frozenset(matching.labels)
        for side, got in (("left", left.labels), ("right", right.labels)):
            missing = sorted(labels - got) if got is not None else []
            if missing:
                names = ", ".join(sorted(labels))
                return f"on({names}) names {', '.join(missing)}, which the {side} side does not have"
        return None
    if left.labels is None or right.labels is None:
        return None
    if matching is None:
        if left.labels == right.labels:
            return None
        return (
            f"the left side has labels {_names(left.labels)} and the right side {_names(right.labels)}: "
            "without on(...) or ignoring(...) no series can match"
        )
    labels = frozenset(matching.labels)
    if left.labels - labels == right.labels - labels:
        return None
    return (
        f"ignoring({', '.join(sorted(labels))}) still leaves {_names(left.labels - labels)} on the left and "
        f"{_names(right.labels - labels)} on the right: no series can match"
    )


def _names(labels: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(labels)) + "}" if labels else "{} (none)"
