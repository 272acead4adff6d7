"""dashboard/unit: a panel that shows numbers without a unit."""

from __future__ import annotations

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

_NO_VALUES = frozenset(
    {"row", "text", "news", "dashlist", "alertlist", "annolist", "logs", "welcome", "gettingstarted", "nodeGraph"}
)


@check("dashboard/unit", severity=WARNING)
def dashboard_unit(ctx: Context) -> None:
    """Without a unit, 0.25 could be seconds, a ratio or requests per second."""
    for dashboard in ctx.doc.dashboards:
        for panel in dashboard.panels:
            if panel.data.get("type") in _NO_VALUES or not panel.data.get("targets"):
                continue
            field_config = panel.data.get("fieldConfig")
            defaults = field_config.get("defaults") if isinstance(field_config, dict) else None
            unit = defaults.get("unit") if isinstance(defaults, dict) else None
            if not unit:
                axes = panel.data.get("yaxes")
                if isinstance(axes, list) and axes and isinstance(axes[0], dict):
                    unit = axes[0].get("format")
            if not unit:
                ctx.report(
                    panel.path,
                    f"panel {panel.title!r} has no unit",
                    hint='set fieldConfig.defaults.unit: "s", "percentunit", "reqps", "short", ...',
                    subjects=(dashboard.title, panel.title),
                )
