"""alerts/annotations: an alert without summary, description or runbook_url."""

from __future__ import annotations

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

REQUIRED = ("summary", "description", "runbook_url")


@check("alerts/annotations", severity=WARNING)
def alerts_annotations(ctx: Context) -> None:
    """Whoever is paged needs a summary, a description with the numbers, and a runbook link."""
    for rule in ctx.doc.rules:
        if rule.alert is None:
            continue
        missing = [name for name in REQUIRED if not rule.annotations.get(name, "").strip()]
        if missing:
            ctx.report(
                rule.path,
                f"alert {rule.alert} has no {', '.join(missing)} annotation" + ("s" if len(missing) > 1 else ""),
                hint="add annotations: summary (static), description (templated), runbook_url",
                key=True,
                subjects=(rule.alert,),
            )
        url = rule.annotations.get("runbook_url", "").strip()
        if url and " " in url:
            ctx.report(
                rule.annotation_paths.get("runbook_url", rule.path),
                f"alert {rule.alert}'s runbook_url {url!r} is not a link",
                hint="use a URL or a path to the runbook section",
                subjects=(rule.alert,),
            )
