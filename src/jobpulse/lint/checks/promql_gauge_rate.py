"""promql/gauge_rate: rate(), irate() or increase() over a gauge."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.helpers import RATE_FUNCTIONS, consumer, parsed_queries, selector_name
from jobpulse.lint.known_metrics import known_type
from jobpulse.lint.problem import ERROR
from jobpulse.lint.promql_ast import func
from jobpulse.lint.registry import Context, check


@check("promql/gauge_rate", severity=ERROR)
def promql_gauge_rate(ctx: Context) -> None:
    """rate/irate/increase treat every decrease as a counter reset, so over a gauge they give nonsense."""
    for query in parsed_queries(ctx):
        for selector, parents in query.parsed.selectors:
            name = selector_name(selector)
            if not name or name in ctx.doc.recorded:
                continue
            declared = ctx.catalogue.series_type(name) if ctx.catalogue is not None else None
            if (declared or known_type(name)) != "gauge":
                continue
            user = consumer(parents)
            if isinstance(user, pp.Call) and func(user) in RATE_FUNCTIONS:
                ctx.report(
                    query.path,
                    f"{func(user)}() over gauge {name}: every decrease counts as a counter reset",
                    query=query,
                    at=func(user),
                    hint=f"use deriv({name}[5m]) or delta({name}[5m]) for a gauge's change",
                    subjects=(name,),
                )
