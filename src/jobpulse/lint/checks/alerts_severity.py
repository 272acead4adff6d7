"""alerts/severity: an alert without a ``severity`` label, or with one outside the allowed set."""

from __future__ import annotations

from jobpulse.lint.catalogue import DEFAULT_SEVERITIES
from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check


@check("alerts/severity", severity=WARNING)
def alerts_severity(ctx: Context) -> None:
    """Alertmanager routes on ``severity``; a missing or unexpected value goes to the wrong receiver."""
    allowed = ctx.catalogue.severities if ctx.catalogue is not None else DEFAULT_SEVERITIES
    names = ", ".join(sorted(allowed))
    for rule in ctx.doc.rules:
        if rule.alert is None:
            continue
        value = rule.labels.get("severity")
        if value is None:
            ctx.report(
                rule.path,
                f"alert {rule.alert} has no severity label",
                hint=f"add labels: {{severity: ...}} with one of {names}",
                key=True,
                subjects=(rule.alert,),
            )
        elif value not in allowed:
            ctx.report(
                rule.label_paths.get("severity", rule.path),
                f"alert {rule.alert} has severity {value!r}; expected one of {names}",
                hint="use an allowed severity, or list yours in the spec's lint.severities",
                subjects=(rule.alert,),
            )
