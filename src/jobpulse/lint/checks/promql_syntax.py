"""promql/syntax: the query does not parse (after Grafana macros are substituted)."""

from __future__ import annotations

from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check


@check("promql/syntax", severity=ERROR)
def promql_syntax(ctx: Context) -> None:
    """The query is not valid PromQL."""
    for query in ctx.doc.queries:
        error = query.parsed.error
        if error is not None:
            ctx.report(
                query.path,
                f"invalid PromQL: {error}",
                query=query,
                hint="check brackets, quotes and operators; `promtool check rules` shows the same error",
            )
