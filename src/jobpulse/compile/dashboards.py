"""Grafana dashboards from the spec, built with grafana-foundation-sdk.

Every panel uses the ``datasource`` template variable, has a unit, a unique non-zero id and explicit
refIds; the uid is the spec's or derived from the service and title (at most 40 characters).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

# The SDK marks its classic dashboard model deprecated in favour of the v2 (Grafana 12 resource) schema.
# Classic dashboard JSON is what Grafana's import and file provisioning read, so we build that on purpose.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Prefer using dashboardv2", category=DeprecationWarning)
    from grafana_foundation_sdk.builders import (
        bargauge,
        common,
        dashboard,
        gauge,
        piechart,
        prometheus,
        stat,
        table,
        timeseries,
    )
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.common import (
        GraphThresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
    )
    from grafana_foundation_sdk.models.dashboard import (
        DataSourceRef,
        GridPos,
        Threshold,
        ThresholdsMode,
        VariableRefresh,
        VariableSort,
    )

from jobpulse.spec.model import Dashboard, Panel, Service

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
_LIST = LegendDisplayMode.LIST
_BOTTOM = LegendPlacement.BOTTOM
_PANELS: dict[str, Any] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "gauge": gauge.Panel,
    "piechart": piechart.Panel,
    "table": table.Panel,
    "bargauge": bargauge.Panel,
}


def _panel(panel: Panel, x: int, y: int) -> Any:
    builder = (
        _PANELS[panel.type]()
        .id(panel.id)
        .title(panel.title)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .grid_pos(_grid(x, y, panel.width, panel.height))
    )
    if panel.description:
        builder = builder.description(panel.description)
    if panel.type in ("timeseries", "piechart"):
        legend = common.VizLegendOptions().show_legend(True).display_mode(_LIST).placement(_BOTTOM)
        builder = builder.legend(legend)
    if panel.decimals is not None:
        builder = builder.decimals(panel.decimals)
    if panel.min is not None:
        builder = builder.min(panel.min)
    if panel.max is not None:
        builder = builder.max(panel.max)
    if panel.thresholds:
        steps = [
            Threshold(value=None if i == 0 else value, color=color) for i, (value, color) in enumerate(panel.thresholds)
        ]
        builder = builder.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        if panel.type == "timeseries":
            builder = builder.thresholds_style(
                common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
            )
    if panel.time_from:
        builder = builder.time_from(panel.time_from)
    for target in panel.targets:
        query = prometheus.Dataquery().expr(target.expr).ref_id(target.ref_id).datasource(DATASOURCE)
        if target.legend:
            query = query.legend_format(target.legend)
        if target.instant or panel.type in ("stat", "gauge", "piechart", "table", "bargauge"):
            query = query.instant()
        else:
            query = query.range()
        builder = builder.with_target(query)
    return builder


def _grid(x: int, y: int, w: int, h: int) -> Any:
    return GridPos(h=h, w=w, x=x, y=y)


def build_dashboard(spec_dashboard: Dashboard, service: Service) -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    variable = dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
    builder = (
        dashboard.Dashboard(spec_dashboard.title)
        .uid(spec_dashboard.uid)
        .tags(sorted({*spec_dashboard.tags, "jobpulse", service.name}))
        .refresh(spec_dashboard.refresh)
        .time(f"now-{spec_dashboard.time_from}", "now")
        .timezone("browser")
        .editable()
        .with_variable(variable)
    )
    for spec_variable in spec_dashboard.variables:
        query = (
            dashboard.QueryVariable(spec_variable.name)
            .label(spec_variable.label or spec_variable.name)
            .datasource(DATASOURCE)
            .query(spec_variable.query)
            .definition(spec_variable.query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
        )
        if spec_variable.multi:
            query = query.multi(True)
        if spec_variable.include_all:
            query = query.include_all(True)
        builder = builder.with_variable(query)
    description = spec_dashboard.description or service.description.strip()
    if description:
        builder = builder.description(description)
    x = y = row_height = 0
    row: str | None = None
    row_id = max((panel.id for panel in spec_dashboard.panels), default=0)
    for panel in spec_dashboard.panels:
        if panel.row is not None and panel.row != row:
            # a row starts on a line of its own (rows are ids after the panels', so panel ids stay stable)
            y, x, row_height, row_id = y + row_height, 0, 0, row_id + 1
            builder = builder.with_row(dashboard.Row(panel.row).id(row_id).grid_pos(_grid(0, y, 24, 1)))
            y += 1
        row = panel.row
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        builder = builder.with_panel(_panel(panel, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(builder.build())
    result: dict[str, Any] = json.loads(encoded)
    return result
