"""dashboard/panel_ids: panels without an id, with id 0, or sharing an id."""

from __future__ import annotations

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check


@check("dashboard/panel_ids", severity=WARNING)
def dashboard_panel_ids(ctx: Context) -> None:
    """Panel links (viewPanel=N), alerts and library panels need unique, non-zero panel ids."""
    for dashboard in ctx.doc.dashboards:
        seen: dict[int, str] = {}
        for panel in dashboard.panels:
            panel_id = panel.data.get("id")
            if not isinstance(panel_id, int) or isinstance(panel_id, bool) or panel_id <= 0:
                ctx.report(
                    panel.path,
                    f"panel {panel.title!r} has no positive id (got {panel_id!r})",
                    hint="give every panel a unique id starting at 1",
                    subjects=(dashboard.title, panel.title),
                )
                continue
            if panel_id in seen:
                ctx.report(
                    (*panel.path, "id"),
                    f"panel {panel.title!r} reuses id {panel_id} of panel {seen[panel_id]!r}",
                    hint="give every panel a unique id",
                    subjects=(dashboard.title, panel.title),
                )
                continue
            seen[panel_id] = panel.title
