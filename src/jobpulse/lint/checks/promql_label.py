"""promql/label: a query matches or groups by a label the metric does not have."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.helpers import labels_of, parsed_queries, selector_name
from jobpulse.lint.problem import ERROR
from jobpulse.lint.promql_ast import matchers, op
from jobpulse.lint.registry import Context, check


@check("promql/label", severity=ERROR, needs_catalogue=True)
def promql_label(ctx: Context) -> None:
    """A label matcher or a by/on/without/ignoring label names a label no metric in the query has."""
    lookup = labels_of(ctx)
    for query in parsed_queries(ctx):
        known: set[str] = set()
        complete = True
        grouping: list[str] = []
        for node, _ in query.parsed.nodes:
            if isinstance(node, pp.VectorSelector):
                name = selector_name(node)
                labels = lookup(name) if name else None
                if labels is None:
                    complete = False
                    continue
                known |= labels
                for label, _op, _value in matchers(node):
                    if label != "__name__" and label not in labels:
                        ctx.report(
                            query.path,
                            f"{name} has no label {label!r}; its labels are {', '.join(sorted(labels))}",
                            query=query,
                            at=label,
                            hint="fix the label name, or add the label to the metric in the spec",
                            subjects=(name, label),
                        )
            elif isinstance(node, pp.AggregateExpr):
                if node.modifier is not None:
                    grouping += list(node.modifier.labels)
                if op(node) == "count_values" and isinstance(node.param, pp.StringLiteral):
                    known.add(node.param.val)
            elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
                if node.modifier.matching is not None:
                    grouping += list(node.modifier.matching.labels)
                grouping += list(node.modifier.group_labels or [])
            elif isinstance(node, pp.Call) and node.func.name in {"label_replace", "label_join"} and len(node.args) > 1:
                target = node.args[1]
                if isinstance(target, pp.StringLiteral):
                    known.add(target.val)
        if not complete:
            continue
        for label in dict.fromkeys(grouping):
            if label not in known:
                ctx.report(
                    query.path,
                    f"by/on/without/ignoring names {label!r}, which no metric in this query has",
                    query=query,
                    at=label,
                    hint="fix the label name; grouping by a missing label silently merges everything",
                    subjects=(label,),
                )
