"""labels/cardinality: labels that grow with every user, customer, domain, URL or path."""

from __future__ import annotations

import re

import promql_parser as pp

from jobpulse.lint.helpers import parsed_queries
from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

RISKY = re.compile(
    r"^(?:.*_)?(?:user|customer|client|account|tenant|workspace|org|shop|session|request|trace|order)_?ids?$"
    r"|^(?:.*_)?(?:email|e_mail|domain|url|uri|path|raw_path|ip|ip_address|user|customer|username)$"
)
#: a declared budget above this is no bound at all
MAX_BOUND = 1000


def risky(label: str) -> bool:
    return bool(RISKY.match(label.lower()))


@check("labels/cardinality", severity=WARNING)
def labels_cardinality(ctx: Context) -> None:
    """A label such as user_id, email, domain, url or path makes one series per value: bound it or drop it."""
    for definition in ctx.doc.metric_defs:
        for label in definition.metric.labels:
            if risky(label.name) and label.values is None and (label.max_values or 0) > MAX_BOUND:
                ctx.report(
                    (*definition.path, "labels", label.name),
                    f"{definition.metric.name}'s label {label.name} grows with every value seen "
                    f"(budget {label.max_values} series per other label combination)",
                    key=True,
                    hint=f"drop it, list its `values`, or keep max_values at {MAX_BOUND} or less",
                    subjects=(definition.metric.name, label.name),
                )
    if ctx.doc.kind == "spec":
        return
    for query in parsed_queries(ctx):
        for node, _ in query.parsed.nodes:
            if not isinstance(node, pp.AggregateExpr) or node.modifier is None:
                continue
            if node.modifier.type != pp.AggModifierType.By:
                continue
            for name in node.modifier.labels:
                if risky(name) and not _bounded(ctx, name):
                    ctx.report(
                        query.path,
                        f"by ({name}) makes one series (and one alert) per {name.replace('_', ' ')}",
                        query=query,
                        at=name,
                        hint="group by a bounded label, or bound this one in the spec",
                        subjects=(name,),
                    )


def _bounded(ctx: Context, label: str) -> bool:
    if ctx.catalogue is None:
        return False
    for metric in ctx.catalogue.spec.metrics.values():
        spec_label = metric.label(label)
        if spec_label is not None and (spec_label.values is not None or (spec_label.max_values or 0) <= MAX_BOUND):
            return True
    return False
