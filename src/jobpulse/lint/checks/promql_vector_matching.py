"""promql/vector_matching: a binary operation between vectors whose label sets can never match."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.helpers import labels_of, parsed_queries
from jobpulse.lint.problem import ERROR
from jobpulse.lint.promql_ast import matching_problem, op
from jobpulse.lint.registry import Context, check


@check("promql/vector_matching", severity=ERROR)
def promql_vector_matching(ctx: Context) -> None:
    """Both sides of ``/``, ``>`` or ``and`` are vectors, but their labels differ, so the result is always empty."""
    lookup = labels_of(ctx)
    for query in parsed_queries(ctx):
        for node, _ in query.parsed.nodes:
            if not isinstance(node, pp.BinaryExpr):
                continue
            problem = matching_problem(node, lookup)
            if problem is None:
                continue
            ctx.report(
                query.path,
                f"{op(node)}: {problem}",
                query=query,
                at=op(node),
                hint="aggregate both sides to the same labels (sum by (x) on each side), "
                "or match with on(...)/ignoring(...) and group_left",
            )
