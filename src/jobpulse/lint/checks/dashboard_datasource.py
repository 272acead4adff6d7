"""dashboard/datasource: panels that do not use the dashboard's datasource variable."""

from __future__ import annotations

from typing import Any

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

_SPECIAL = frozenset({"-- Mixed --", "-- Grafana --", "-- Dashboard --", "grafana"})
_NO_QUERIES = frozenset({"row", "text", "news", "dashlist", "alertlist", "annolist", "welcome", "gettingstarted"})


def _variable(ref: Any) -> str | None:
    """The uid (or name) a datasource reference uses, or None when there is no reference."""
    if ref is None:
        return None
    if isinstance(ref, dict):
        uid = ref.get("uid")
        return str(uid) if uid is not None else ""
    return str(ref)


def _is_variable(value: str) -> bool:
    return value.startswith("$") and not value.startswith(("${DS_", "$DS_"))


@check("dashboard/datasource", severity=WARNING)
def dashboard_datasource(ctx: Context) -> None:
    """Panels should use a ``datasource`` template variable: fixed uids and ``${DS_...}`` break provisioning."""
    for dashboard in ctx.doc.dashboards:
        templating = dashboard.data.get("templating")
        variables = templating.get("list", []) if isinstance(templating, dict) else []
        has_variable = any(isinstance(v, dict) and v.get("type") == "datasource" for v in variables or [])
        uses_queries = False
        for panel in dashboard.panels:
            if panel.data.get("type") in _NO_QUERIES or not panel.data.get("targets"):
                continue
            uses_queries = True
            refs = [panel.data.get("datasource")]
            targets = panel.data.get("targets")
            if isinstance(targets, list):
                refs += [t.get("datasource") for t in targets if isinstance(t, dict)]
            values = [v for v in (_variable(r) for r in refs) if v is not None]
            bad = [v for v in values if not _is_variable(v) and v not in _SPECIAL]
            if not values:
                message = f"panel {panel.title!r} names no datasource, so it uses Grafana's default"
            elif bad:
                what = "an import input" if bad[0].startswith(("${DS_", "$DS_")) else "a fixed datasource"
                message = f"panel {panel.title!r} uses {what} {bad[0]!r} instead of the datasource variable"
            else:
                continue
            ctx.report(
                panel.path,
                message,
                hint='set "datasource": {"type": "prometheus", "uid": "${datasource}"} on the panel and its targets',
                subjects=(dashboard.title, panel.title),
            )
        if uses_queries and not has_variable:
            ctx.report(
                dashboard.path,
                f"dashboard {dashboard.title!r} has no datasource template variable",
                hint='add templating.list entry {"name": "datasource", "type": "datasource", "query": "prometheus"}',
                subjects=(dashboard.title,),
            )
