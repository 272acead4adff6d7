"""alerts/template: templates that use labels the expression drops, or ``$value`` in labels."""

from __future__ import annotations

import re

from jobpulse.lint.helpers import labels_of
from jobpulse.lint.problem import ERROR, WARNING
from jobpulse.lint.promql_ast import shape
from jobpulse.lint.registry import Context, check

_LABEL_REFS = re.compile(
    r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)"
    r"|\.Labels\.([A-Za-z_][A-Za-z0-9_]*)"
    r"|index\s+\$labels\s+\"([A-Za-z_][A-Za-z0-9_]*)\""
)
_VALUE = re.compile(r"\$value\b|\.Value\b")


@check("alerts/template", severity=ERROR)
def alerts_template(ctx: Context) -> None:
    """An annotation uses ``$labels.x`` that the expression aggregates away, or a label uses ``$value``."""
    lookup = labels_of(ctx)
    for rule in ctx.doc.rules:
        if rule.alert is None:
            continue
        for name, value in rule.labels.items():
            match = _VALUE.search(value)
            if match:
                ctx.report(
                    rule.label_paths.get(name, rule.path),
                    f"label {name} of alert {rule.alert} uses {match.group()}: every new value is a new alert",
                    hint="move the value into an annotation (description); labels identify the alert",
                    at=match.group(),
                    subjects=(rule.alert,),
                )
        ast = rule.query.parsed.ast
        if ast is None:
            continue
        result = shape(ast, lookup)
        if result.kind != "vector" or result.labels is None:
            continue
        have = result.labels
        for kind, values, paths in (
            ("annotation", rule.annotations, rule.annotation_paths),
            ("label", rule.labels, rule.label_paths),
        ):
            for name, value in values.items():
                for match in _LABEL_REFS.finditer(value):
                    label = next(g for g in match.groups() if g)
                    if label in have:
                        continue
                    keeps = ", ".join(sorted(have)) if have else "no labels"
                    ctx.report(
                        paths.get(name, rule.path),
                        f"{kind} {name} of alert {rule.alert} uses $labels.{label}, "
                        f"but the expression keeps {keeps}: it renders empty",
                        hint=f"keep the label (sum by ({label}) ...) or drop it from the template",
                        at=match.group(),
                        subjects=(rule.alert, label),
                        # an annotation renders empty: a warning; a label routes and groups the alert: an error
                        severity=WARNING if kind == "annotation" else None,
                    )
