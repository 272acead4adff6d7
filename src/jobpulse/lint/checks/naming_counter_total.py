"""naming/counter_total: counters end in ``_total``, and nothing else does."""

from __future__ import annotations

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check


@check("naming/counter_total", severity=WARNING, needs_catalogue=True)
def naming_counter_total(ctx: Context) -> None:
    """A spec counter named without ``_total`` (Prometheus stores it with one), or a gauge/histogram with one."""
    for definition in ctx.doc.metric_defs:
        metric = definition.metric
        path = (*definition.path, "name")
        if metric.type == "counter" and not metric.name.endswith("_total"):
            ctx.report(
                path,
                f"counter {metric.name} is stored as {metric.name}_total; queries must use that name",
                hint=f"name it {metric.name}_total in the spec",
                subjects=(metric.name,),
            )
        elif metric.type != "counter" and metric.name.endswith("_total"):
            ctx.report(
                path,
                f"{metric.type} {metric.name} ends in _total, which marks counters",
                hint="drop the _total suffix, or make it a counter",
                subjects=(metric.name,),
            )
