"""promql/range: a rate-like range shorter than twice the scrape interval."""

from __future__ import annotations

import promql_parser as pp

from jobpulse.lint.helpers import TWO_SAMPLE_FUNCTIONS, parsed_queries, selector_name
from jobpulse.lint.problem import ERROR
from jobpulse.lint.promql_ast import func
from jobpulse.lint.registry import Context, check


@check("promql/range", severity=ERROR, needs_catalogue=True)
def promql_range(ctx: Context) -> None:
    """rate() and friends need two samples in the range; under 2x the scrape interval they often have one."""
    assert ctx.catalogue is not None
    scrape = ctx.catalogue.scrape_interval
    for query in parsed_queries(ctx):
        for node, _ in query.parsed.nodes:
            if not isinstance(node, pp.Call) or func(node) not in TWO_SAMPLE_FUNCTIONS:
                continue
            for arg in node.args:
                if not isinstance(arg, pp.MatrixSelector):
                    continue
                seconds = arg.range.total_seconds()
                if seconds < 2 * scrape:
                    name = selector_name(arg.vector_selector)
                    ctx.report(
                        query.path,
                        f"{func(node)}() over {_duration(seconds)} with a {_duration(scrape)} scrape interval: "
                        "fewer than two samples in most windows",
                        query=query,
                        at=name or func(node),
                        hint=f"use a range of at least {_duration(2 * scrape)} (4x the scrape interval is safer)",
                        subjects=(name,) if name else (),
                    )


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
