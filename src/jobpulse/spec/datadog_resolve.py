"""Resolve the spec's Datadog keys into :class:`jobpulse.spec.datadog.Datadog`, reporting located problems."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable

from jobpulse.spec import model, wire
from jobpulse.spec.datadog import (
    DATADOG_TYPES,
    Datadog,
    DatadogCatalogue,
    DatadogDashboard,
    DatadogDerived,
    DatadogFormula,
    DatadogGroup,
    DatadogMetric,
    DatadogMonitor,
    DatadogQuery,
    DatadogTemplateVariable,
    DatadogThresholds,
    DatadogWidget,
    dotted_name,
    unit_scale,
)
from jobpulse.spec.datadog_formula import parse_formula
from jobpulse.spec.datadog_query import DatadogQueryError, parse_metric_query, parse_monitor_query
from jobpulse.spec.datadog_translate import TranslationError, translate
from jobpulse.spec.wire_datadog import DatadogMetricSpec, DatadogMonitorSpec, DatadogWidgetSpec
from jobpulse.spec.yamlpos import PathKey

Report = Callable[[PathKey, str], None]
_PROMETHEUS_TEMPLATE = re.compile(r"\{\{\s*\$value\s*\}\}|\{\{\s*\$labels\.(\w+)\s*\}\}")
_PRIORITY = {"critical": 1, "warning": 3}


def resolve_datadog(
    spec: wire.SpecV1,
    metrics: dict[str, model.Metric],
    dashboards: list[model.Dashboard],
    alerts: list[model.Alert],
    service: model.Service,
    problem: Report,
) -> Datadog | None:
    """The spec's Datadog side, or None when it says nothing about Datadog."""
    wants = (
        spec.datadog is not None
        or any(d.datadog not in (None, False) for d in spec.dashboards)
        or any(a.datadog not in (None, False) for a in spec.alerts)
        or any(p.datadog is not None for d in spec.dashboards for p in d.panels)
    )
    if not wants:
        return None
    catalogue = _catalogue(spec, metrics, problem)
    result = Datadog(catalogue)
    switch = spec.datadog.dashboards if spec.datadog is not None else "marked"
    for i, (wire_dashboard, dashboard) in enumerate(zip(spec.dashboards, dashboards, strict=True)):
        marked = wire_dashboard.datadog
        if marked is False or (marked is None and switch != "all"):
            for k, panel in enumerate(wire_dashboard.panels):
                if panel.datadog is not None:
                    problem(
                        ("dashboards", i, "panels", k, "datadog"),
                        "this panel has a Datadog widget but its dashboard is not sent to Datadog: set "
                        "`datadog: true` on the dashboard or `datadog.dashboards: all`",
                    )
            continue
        result.dashboards.append(_dashboard(i, wire_dashboard, dashboard, catalogue, service, problem, result))
    for i, (wire_alert, alert) in enumerate(zip(spec.alerts, alerts, strict=True)):
        if wire_alert.datadog in (None, False):
            continue
        form = wire_alert.datadog if isinstance(wire_alert.datadog, DatadogMonitorSpec) else DatadogMonitorSpec()
        monitor = _monitor(i, form, alert, catalogue, service, spec, problem)
        if monitor is not None:
            result.monitors.append(monitor)
    return result


# -- metric names --------------------------------------------------------------------------------------------
def _catalogue(spec: wire.SpecV1, metrics: dict[str, model.Metric], problem: Report) -> DatadogCatalogue:
    settings = spec.datadog
    given = settings.metrics if settings is not None else {}
    out: dict[str, DatadogMetric] = {}
    for name in given:
        if name not in metrics:
            problem(("datadog", "metrics", name), f"unknown metric {name!r}: not in the catalogue")
    taken: dict[str, str] = {}
    for name, metric in metrics.items():
        entry = given.get(name)
        where: PathKey = ("datadog", "metrics", name)
        if isinstance(entry, str):
            entry = DatadogMetricSpec(name=entry)
        if entry is None:
            entry = DatadogMetricSpec(
                name=dotted_name(metric) if settings is None or settings.names == "dotted" else metric.name
            )
            where = ("metrics",)
        if entry.unit is not None and metric.type != "histogram":
            problem((*where, "unit"), f"`unit` applies to histograms; {name} is a {metric.type}")
        if entry.unit is not None and metric.unit not in ("seconds", "milliseconds"):
            problem((*where, "unit"), f"{name} is in {metric.unit}; only seconds and milliseconds convert")
        derived: list[DatadogDerived] = []
        for d, item in enumerate(entry.derived):
            if metric.type != "counter":
                problem((*where, "derived", d), f"derived counters come from counters; {name} is a {metric.type}")
            for label in item.where:
                if label not in metric.label_names:
                    problem(
                        (*where, "derived", d, "where", label),
                        f"{name} has no label {label!r}; its labels are {', '.join(metric.label_names) or 'none'}",
                    )
            derived.append(DatadogDerived(item.name, tuple(item.where.items())))
        for datadog_name in (entry.name, *(d.name for d in derived)):
            if datadog_name in taken and taken[datadog_name] != name:
                problem(where, f"Datadog name {datadog_name!r} is also the name of {taken[datadog_name]}")
            taken[datadog_name] = name
        out[name] = DatadogMetric(
            source=metric,
            name=entry.name,
            type=DATADOG_TYPES[metric.type],
            scale=unit_scale(metric, entry.unit),
            derived=tuple(derived),
        )
    return DatadogCatalogue(out)


# -- dashboards ------------------------------------------------------------------------------------------------
def _dashboard(
    i: int,
    wire_dashboard: wire.DashboardSpec,
    dashboard: model.Dashboard,
    catalogue: DatadogCatalogue,
    service: model.Service,
    problem: Report,
    result: Datadog,
) -> DatadogDashboard:
    settings = wire_dashboard.datadog if not isinstance(wire_dashboard.datadog, bool) else None
    base: PathKey = ("dashboards", i)
    if settings is not None and settings.template_variables is not None:
        variables = tuple(
            DatadogTemplateVariable(v.name, v.prefix, tuple(v.defaults), tuple(v.available_values))
            for v in settings.template_variables
        )
    else:
        variables = tuple(DatadogTemplateVariable(v.name, v.label_name, ("*",)) for v in wire_dashboard.variables)
    names = {v.name for v in variables}
    groups = dict(settings.groups) if settings is not None else {}
    rows = {p.row for p in wire_dashboard.panels if p.row}
    for row in groups:
        if row not in rows:
            problem((*base, "datadog", "groups", row), f"no panel is in row {row!r}; rows: {', '.join(sorted(rows))}")
    placed: list[tuple[str | None, DatadogWidget]] = []
    for k, panel in enumerate(wire_dashboard.panels):
        if panel.datadog is None:
            result.skipped_panels.append((dashboard.title, panel.title))
            continue
        widget = _widget((*base, "panels", k, "datadog"), panel, panel.datadog, catalogue, names, problem)
        placed.append((panel.row, widget))
    items: list[DatadogGroup | DatadogWidget] = []
    for row, widgets in itertools.groupby(placed, key=lambda item: item[0]):
        if row is None:
            items += [widget for _, widget in widgets]
        else:
            items.append(DatadogGroup(groups.get(row, row), tuple(widget for _, widget in widgets)))
    title = settings.title if settings is not None and settings.title else dashboard.title
    description = settings.description if settings is not None and settings.description is not None else ""
    return DatadogDashboard(
        uid=dashboard.uid,
        title=title,
        description=description or dashboard.description or service.description.strip(),
        tags=tuple(sorted({f"service:{service.name}", "jobpulse"})),
        template_variables=variables,
        items=tuple(items),
    )


def _widget(
    path: PathKey,
    panel: wire.PanelSpec,
    spec: DatadogWidgetSpec,
    catalogue: DatadogCatalogue,
    variables: set[str],
    problem: Report,
) -> DatadogWidget:
    if spec.query is not None:
        queries = [("query1", spec.query, (*path, "query"))]
    else:
        assert spec.queries is not None
        queries = [(name, text, (*path, "queries", name)) for name, text in spec.queries.items()]
    for _, text, where in queries:
        for message in widget_query_problems(text, catalogue, variables):
            problem(where, message)
    formulas: list[DatadogFormula] = []
    if spec.formulas is None:
        formulas = [DatadogFormula(name, spec.alias if spec.query is not None else None) for name, _, _ in queries]
    else:
        known = {name for name, _, _ in queries}
        for f, item in enumerate(spec.formulas):
            text, alias = (item, None) if isinstance(item, str) else (item.formula, item.alias)
            where = (*path, "formulas", f)
            try:
                parsed = parse_formula(text)
            except DatadogQueryError as exc:
                problem(where, f"invalid formula: {exc.message} (at column {exc.offset + 1} of the formula)")
                continue
            for name, _ in parsed.names:
                if name not in known:
                    problem(where, f"the formula uses {name!r}, which is not one of the queries ({', '.join(known)})")
            formulas.append(DatadogFormula(text, alias))
    widget_type = spec.type or ("query_value" if panel.type in ("stat", "gauge") else "timeseries")
    return DatadogWidget(
        title=spec.title or panel.title,
        type=widget_type,
        queries=tuple(DatadogQuery(name, text) for name, text, _ in queries),
        formulas=tuple(formulas),
        display=spec.display,
        aggregator=spec.aggregator,
        precision=spec.precision,
        unit=spec.unit,
    )


def widget_query_problems(text: str, catalogue: DatadogCatalogue, variables: set[str] | None) -> list[str]:
    """Problems with one widget query: grammar, unknown metric, percentile of a non-distribution, variables."""
    try:
        query = parse_metric_query(text)
    except DatadogQueryError as exc:
        return [f"invalid Datadog query: {exc.message} (at column {exc.offset + 1} of the query)"]
    return metric_problems(query.metric, query.percentile is not None, catalogue) + [
        f"unknown template variable ${tag.variable}; the dashboard defines {', '.join(sorted(variables)) or 'none'}"
        for tag in query.tags
        if variables is not None and tag.variable is not None and tag.variable not in variables
    ]


def metric_problems(name: str, percentile: bool, catalogue: DatadogCatalogue) -> list[str]:
    entry = catalogue.lookup(name)
    if entry is None:
        close = difflib.get_close_matches(name, catalogue.names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"unknown Datadog metric {name!r}: no catalogue metric is sent under that name{hint}"]
    if percentile and entry[0].type != "distribution":
        return [f"pNN: needs a distribution; {name} is a {entry[0].type} ({entry[0].source.name})"]
    return []


# -- monitors --------------------------------------------------------------------------------------------------
def _monitor(
    i: int,
    form: DatadogMonitorSpec,
    alert: model.Alert,
    catalogue: DatadogCatalogue,
    service: model.Service,
    spec: wire.SpecV1,
    problem: Report,
) -> DatadogMonitor | None:
    path: PathKey = ("alerts", i, "datadog")
    if form.query is None:
        try:
            translated = translate(alert.expr, catalogue)
        except TranslationError as exc:
            problem(("alerts", i, "expr"), f"no Datadog form for this expression: {exc}")
            return None
        query, comparator, critical = translated.query, translated.comparator, translated.threshold
    else:
        query = form.query.strip()
        try:
            parsed = parse_monitor_query(query)
        except DatadogQueryError as exc:
            problem((*path, "query"), f"invalid Datadog monitor query: {exc.message} (at column {exc.offset + 1})")
            return None
        for metric in parsed.metrics:
            for message in metric_problems(metric.metric, metric.percentile is not None, catalogue):
                problem((*path, "query"), message)
        comparator, critical = parsed.comparator, parsed.threshold
    thresholds = DatadogThresholds(critical, form.warning, form.critical_recovery, form.warning_recovery)
    for message in threshold_problems(comparator, thresholds):
        problem(path, message)
    no_data = form.no_data_timeframe
    if form.notify_no_data and no_data is None:
        seconds = parse_monitor_query(query).window_seconds
        no_data = max(2, int(2 * seconds // 60))
    settings = spec.datadog
    tags = [f"service:{service.name}", f"severity:{alert.severity}", f"alert:{alert.name}"]
    tags += [f"{k}:{v}" for k, v in alert.labels.items()]
    tags += list(settings.monitor_tags if settings is not None else ()) + list(form.tags)
    return DatadogMonitor(
        alert=alert.name,
        name=form.name or alert.summary,
        type=form.type,
        query=query,
        message=_message(form, alert),
        tags=tuple(dict.fromkeys(tags)),
        priority=form.priority if form.priority is not None else _PRIORITY.get(alert.severity),
        thresholds=thresholds,
        notify_no_data=form.notify_no_data,
        no_data_timeframe=no_data,
        renotify_interval=form.renotify_interval,
        evaluation_delay=form.evaluation_delay,
        require_full_window=form.require_full_window,
        translated=form.query is None,
    )


def _message(form: DatadogMonitorSpec, alert: model.Alert) -> str:
    text = form.message or f"{alert.summary}\n\n{alert.description}"
    text = _PROMETHEUS_TEMPLATE.sub(lambda m: "{{value}}" if m.group(1) is None else f"{{{{{m.group(1)}.name}}}}", text)
    return f"{text.strip()}\n\nRunbook: {alert.runbook_url}"


def threshold_problems(comparator: str, t: DatadogThresholds) -> list[str]:
    """Datadog's own rules: warning and recoveries on the right side of the critical threshold, no overlap."""
    above = comparator in (">", ">=")

    def worse(a: float, b: float) -> bool:
        return a > b if above else a < b

    side = "below" if above else "above"
    problems: list[str] = []
    if t.warning is not None and not worse(t.critical, t.warning):
        problems.append(f"warning ({t.warning:g}) must be {side} critical ({t.critical:g}) for `{comparator}`")
    if t.critical_recovery is not None and not worse(t.critical, t.critical_recovery):
        problems.append(
            f"critical_recovery ({t.critical_recovery:g}) must be {side} critical ({t.critical:g}) for `{comparator}`"
        )
    if t.warning_recovery is not None:
        if t.warning is None:
            problems.append("warning_recovery needs a warning threshold")
        elif not worse(t.warning, t.warning_recovery):
            problems.append(
                f"warning_recovery ({t.warning_recovery:g}) must be {side} warning ({t.warning:g}) for `{comparator}`"
            )
    return problems
