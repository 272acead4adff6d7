"""online/series: a query selects series that a live Prometheus does not have (``--online``)."""

from __future__ import annotations

from jobpulse.lint.catalogue import SYNTHETIC_SERIES
from jobpulse.lint.helpers import parsed_queries, selector_name
from jobpulse.lint.problem import WARNING
from jobpulse.lint.promql_ast import is_variable, matchers
from jobpulse.lint.registry import Context, check


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@check("online/series", severity=WARNING, online=True)
def online_series(ctx: Context) -> None:
    """Asks Prometheus (/api/v1/series) whether the metric, and the series the matchers pick, exist."""
    assert ctx.online is not None
    for query in parsed_queries(ctx):
        checked: set[str] = set()
        for selector, _ in query.parsed.selectors:
            name = selector_name(selector)
            if not name or name in ctx.doc.recorded or name in SYNTHETIC_SERIES:
                continue
            conditions = [
                f"{label}{op}{_quote(value)}"
                for label, op, value in matchers(selector)
                if label != "__name__" and not is_variable(value)
            ]
            full = name + "{" + ",".join(conditions) + "}"
            if full in checked:
                continue
            checked.add(full)
            if not ctx.online.has_series(f"{{__name__={_quote(name)}}}"):
                ctx.report(
                    query.path,
                    f"{ctx.online.url} has no series named {name}",
                    query=query,
                    at=name,
                    hint="check the name, or that the target exposing it is scraped",
                    subjects=(name,),
                )
            elif conditions and not ctx.online.has_series(full):
                ctx.report(
                    query.path,
                    f"{ctx.online.url} has {name}, but no series matching {full}",
                    query=query,
                    at=name,
                    hint="check the label values the query asks for",
                    subjects=(name,),
                )
