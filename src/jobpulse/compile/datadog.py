"""Datadog dashboards and monitors from the spec's Datadog side (see :mod:`jobpulse.spec.datadog`).

Each dashboard marked for Datadog becomes ``datadog/<uid>.json``: an ordered dashboard with a group per
row, ``timeseries`` and ``query_value`` widgets in the ``queries``/``formulas`` request form and template
variables with ``defaults``. Every alert with a Datadog form becomes one entry of ``datadog/monitors.json``.
Both are built as the strict models of :mod:`jobpulse.compile.datadog_json`, so what is written validates.
"""

from __future__ import annotations

from typing import Any

from jobpulse.compile import datadog_json as dd
from jobpulse.spec.datadog import DatadogDashboard, DatadogGroup, DatadogMonitor, DatadogWidget

__all__ = ["datadog_dashboard", "datadog_monitors"]


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _widget(widget: DatadogWidget) -> dd.Widget:
    formulas = [dd.Formula(formula=f.formula, alias=f.alias) for f in widget.formulas]
    if widget.type == "query_value":
        aggregator: Any = widget.aggregator  # a Literal, checked by the model
        queries = [dd.MetricQuery(name=q.name, query=q.query, aggregator=aggregator) for q in widget.queries]
        return dd.Widget(
            definition=dd.QueryValueDefinition(
                title=widget.title,
                precision=widget.precision,
                custom_unit=widget.unit,
                requests=[dd.ScalarRequest(queries=queries, formulas=formulas)],
            )
        )
    queries = [dd.MetricQuery(name=q.name, query=q.query) for q in widget.queries]
    display: Any = widget.display  # a Literal, checked by the model
    request = dd.TimeseriesRequest(queries=queries, formulas=formulas, display_type=display)
    return dd.Widget(definition=dd.TimeseriesDefinition(title=widget.title, requests=[request]))


def _item(item: DatadogGroup | DatadogWidget) -> dd.Group | dd.Widget:
    if isinstance(item, DatadogGroup):
        return dd.Group(
            definition=dd.GroupDefinition(title=item.title, widgets=[_widget(widget) for widget in item.widgets])
        )
    return _widget(item)


def datadog_dashboard(dashboard: DatadogDashboard) -> dict[str, Any]:
    """The dashboard as JSON-ready data for ``POST /api/v1/dashboard`` (or Import JSON in the UI)."""
    model = dd.Dashboard(
        title=dashboard.title,
        description=dashboard.description or None,
        template_variables=[
            dd.TemplateVariable(
                name=v.name, prefix=v.prefix, available_values=list(v.available_values), defaults=list(v.defaults)
            )
            for v in dashboard.template_variables
        ],
        tags=list(dashboard.tags),
        widgets=[_item(item) for item in dashboard.items],
    )
    data: dict[str, Any] = dd.dump(model)
    return data


def _monitor(monitor: DatadogMonitor) -> dd.Monitor:
    t = monitor.thresholds
    return dd.Monitor(
        name=monitor.name,
        type=monitor.type,  # type: ignore[arg-type]  # checked by the model (Literal)
        query=monitor.query,
        message=monitor.message,
        tags=list(monitor.tags),
        priority=monitor.priority,
        options=dd.MonitorOptions(
            thresholds=dd.Thresholds(
                critical=_number(t.critical),  # type: ignore[arg-type]  # never None
                warning=_number(t.warning),
                critical_recovery=_number(t.critical_recovery),
                warning_recovery=_number(t.warning_recovery),
            ),
            notify_no_data=monitor.notify_no_data,
            no_data_timeframe=monitor.no_data_timeframe,
            renotify_interval=monitor.renotify_interval,
            evaluation_delay=monitor.evaluation_delay,
            require_full_window=monitor.require_full_window,
        ),
    )


def datadog_monitors(monitors: list[DatadogMonitor]) -> list[dict[str, Any]]:
    """Every monitor as JSON-ready data for ``POST /api/v1/monitor``, in the spec's order."""
    return [dd.dump(_monitor(monitor)) for monitor in monitors]
