"""promql/series: a query names a metric the catalogue does not have."""

from __future__ import annotations

from jobpulse.lint.catalogue import SYNTHETIC_SERIES
from jobpulse.lint.helpers import closest, parsed_queries, selector_name
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check


@check("promql/series", severity=ERROR, needs_catalogue=True)
def promql_series(ctx: Context) -> None:
    """The query uses a metric (series name) that the spec's catalogue does not define."""
    assert ctx.catalogue is not None
    known = set(ctx.catalogue.series) | ctx.doc.recorded | SYNTHETIC_SERIES
    for query in parsed_queries(ctx):
        reported: set[str] = set()
        for selector, _ in query.parsed.selectors:
            name = selector_name(selector)
            if not name or name in known or name in reported:
                continue
            reported.add(name)
            entry = ctx.catalogue.spec.metrics.get(name)
            if entry is not None:
                hint = "use one of " + ", ".join(entry.series_names)
            else:
                hint = "add the metric to the spec's `metrics`, or fix the name"
            ctx.report(
                query.path,
                f"unknown metric {name!r}{closest(name, known)}",
                query=query,
                at=name,
                hint=hint,
                subjects=(name,),
            )
