"""datadog/syntax: a Datadog monitor or widget query that does not parse."""

from __future__ import annotations

from jobpulse.lint.datadog_helpers import parse, token_at
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.spec.datadog_query import DatadogQueryError


@check("datadog/syntax", severity=ERROR)
def datadog_syntax(ctx: Context) -> None:
    """A Datadog query does not follow Datadog's metric query grammar; the API would refuse it."""
    for query in ctx.doc.datadog_queries:
        try:
            parse(query)
        except DatadogQueryError as exc:
            at, nth = token_at(query.query, exc.offset)
            form = "time_aggr(last_5m):space_aggr:metric{tags} > N" if query.kind == "monitor" else "sum:metric{tags}"
            ctx.report(
                query.path,
                f"invalid Datadog {query.kind} query: {exc.message}",
                at=at,
                nth=nth,
                hint=f"write it as {form} (see docs/datadog.md)",
                subjects=query.subjects,
            )
