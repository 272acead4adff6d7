"""What a linted file holds, whatever its format: queries, rules, dashboards, monitors, metric definitions.

A file is recognised by its content: a jobpulse spec (``version: jobpulse/v1``), a Prometheus rule file
(``groups``), a PrometheusRule custom resource, Grafana dashboard JSON (``panels``), Datadog monitors or a
Datadog dashboard (``layout_type`` and ``widgets``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jobpulse.lint import promql_ast
from jobpulse.lint.catalogue import Catalogue, load_catalogue
from jobpulse.lint.source import Tree
from jobpulse.spec import model
from jobpulse.spec.targets import RuleTarget
from jobpulse.spec.yamlpos import PathKey, dotted

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
SPEC = "spec"
RULES = "rules"
PROMETHEUS_RULE = "prometheusrule"
GRAFANA = "grafana"
DATADOG = "datadog"
DATADOG_DASHBOARD = "datadog_dashboard"
#: ServiceMonitor, PodMonitor, ConfigMap (what `jobpulse build --k8s` writes beside a PrometheusRule): read, no PromQL
KUBERNETES = "kubernetes"
_KUBERNETES_KINDS = {
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("", "ConfigMap"),
}
KIND_NAMES = {
    SPEC: "jobpulse spec",
    RULES: "Prometheus rule file",
    PROMETHEUS_RULE: "PrometheusRule resource",
    GRAFANA: "Grafana dashboard",
    DATADOG: "Datadog monitors",
    DATADOG_DASHBOARD: "Datadog dashboard",
    KUBERNETES: "Kubernetes resource (no PromQL to check)",
}


@dataclass
class Query:
    """One PromQL expression and where it is written."""

    expr: str
    path: PathKey
    kind: str  # "alert" | "record" | "panel"
    subjects: tuple[str, ...] = ()
    _parsed: promql_ast.Parsed | None = field(default=None, repr=False)

    @property
    def parsed(self) -> promql_ast.Parsed:
        if self._parsed is None:
            self._parsed = promql_ast.parse(self.expr)
        return self._parsed


@dataclass
class Rule:
    path: PathKey
    query: Query
    alert: str | None = None
    record: str | None = None
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    #: path of each label/annotation value, for locating template problems
    label_paths: dict[str, PathKey] = field(default_factory=dict)
    annotation_paths: dict[str, PathKey] = field(default_factory=dict)


@dataclass
class GrafanaPanel:
    path: PathKey
    data: dict[str, Any]
    title: str


@dataclass
class GrafanaDashboard:
    path: PathKey
    data: dict[str, Any]
    title: str
    panels: list[GrafanaPanel]


@dataclass
class Monitor:
    path: PathKey
    data: dict[str, Any]
    name: str


@dataclass
class DatadogQuery:
    """One Datadog query and where it is written: a monitor's (with its comparison) or a widget's."""

    query: str
    path: PathKey
    kind: str  # "monitor" | "widget"
    subjects: tuple[str, ...] = ()


@dataclass
class MetricDef:
    """A metric defined in a spec's catalogue."""

    path: PathKey
    metric: model.Metric


@dataclass
class Document:
    file: str
    kind: str
    tree: Tree
    queries: list[Query] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    dashboards: list[GrafanaDashboard] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)
    datadog_queries: list[DatadogQuery] = field(default_factory=list)
    metric_defs: list[MetricDef] = field(default_factory=list)
    #: the spec's own catalogue, for a spec document
    catalogue: Catalogue | None = None
    #: (path, message) for parts that are not what the format expects
    structure: list[tuple[PathKey, str]] = field(default_factory=list)
    #: recording rules of the other files linted in the same run
    known_records: set[str] = field(default_factory=set)
    #: the rule engine given on the command line (``--target``); else the spec's ``lint.target``
    target: RuleTarget | None = None

    @property
    def recorded(self) -> set[str]:
        """Series that recording rules write: this document's and those of files linted with it."""
        return {rule.record for rule in self.rules if rule.record} | self.known_records


def detect(data: Any) -> str | None:
    """Which kind of document ``data`` is, or None."""
    if isinstance(data, dict):
        if data.get("version") == "jobpulse/v1":
            return SPEC
        if data.get("kind") == "PrometheusRule" and str(data.get("apiVersion", "")).startswith("monitoring.coreos.com"):
            return PROMETHEUS_RULE
        group = str(data.get("apiVersion", "")).rpartition("/")[0]
        if (group, data.get("kind")) in _KUBERNETES_KINDS:
            return KUBERNETES
        if "groups" in data and isinstance(data["groups"], list):
            return RULES
        if "panels" in data or "rows" in data or isinstance(data.get("dashboard"), dict):
            return GRAFANA
        if _is_monitor(data) or isinstance(data.get("monitors"), list):
            return DATADOG
        if isinstance(data.get("widgets"), list) and "layout_type" in data:
            return DATADOG_DASHBOARD
    if isinstance(data, list) and data and all(_is_monitor(item) for item in data):
        return DATADOG
    return None


def _is_monitor(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("query"), str) and "alert" in str(data.get("type", ""))


def build(tree: Tree, kind: str) -> Document:
    """Extract what a document of ``kind`` holds; spec errors raise SpecError."""
    doc = Document(tree.file, kind, tree)
    if kind == SPEC:
        _spec(doc)
    elif kind == RULES:
        _groups(doc, tree.data.get("groups"), ("groups",))
    elif kind == PROMETHEUS_RULE:
        spec = tree.data.get("spec")
        groups = spec.get("groups") if isinstance(spec, dict) else None
        _groups(doc, groups, ("spec", "groups"))
    elif kind == GRAFANA:
        data = tree.data
        if isinstance(data.get("dashboard"), dict) and "panels" not in data:
            _dashboard(doc, data["dashboard"], ("dashboard",))
        else:
            _dashboard(doc, data, ())
    elif kind == DATADOG_DASHBOARD:
        _datadog_widgets(doc, tree.data["widgets"], ("widgets",), str(tree.data.get("title", "")))
    elif kind == DATADOG:
        data = tree.data
        base: PathKey = ()
        if isinstance(data, dict) and isinstance(data.get("monitors"), list):
            items, base = data["monitors"], ("monitors",)
        else:
            items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            path: PathKey = (*base, i) if isinstance(data, list) or base else ()
            if isinstance(item, dict):
                name = str(item.get("name", f"monitor {i}"))
                doc.monitors.append(Monitor(path, item, name))
                if isinstance(item.get("query"), str):
                    doc.datadog_queries.append(DatadogQuery(item["query"], (*path, "query"), "monitor", (name,)))
            else:
                doc.structure.append((path, "expected a Datadog monitor (a mapping with `query` and `type`)"))
    return doc


def _datadog_widgets(doc: Document, widgets: list[Any], base: PathKey, dashboard: str) -> None:
    """Every metrics query of a Datadog dashboard's widgets (groups included), in the current request form."""
    for i, widget in enumerate(widgets):
        definition = widget.get("definition") if isinstance(widget, dict) else None
        if not isinstance(definition, dict):
            doc.structure.append(((*base, i), "expected a widget (a mapping with a `definition`)"))
            continue
        path: PathKey = (*base, i, "definition")
        if isinstance(definition.get("widgets"), list):
            _datadog_widgets(doc, definition["widgets"], (*path, "widgets"), dashboard)
        requests = definition.get("requests")
        for r, request in enumerate(requests if isinstance(requests, list) else []):
            queries = request.get("queries") if isinstance(request, dict) else None
            for q, query in enumerate(queries if isinstance(queries, list) else []):
                if (
                    isinstance(query, dict)
                    and query.get("data_source") == "metrics"
                    and isinstance(query.get("query"), str)
                ):
                    where = (*path, "requests", r, "queries", q, "query")
                    subjects = _named((dashboard, str(definition.get("title", ""))))
                    doc.datadog_queries.append(DatadogQuery(query["query"], where, "widget", subjects))


# --- jobpulse spec ------------------------------------------------------------------------------------


def _spec(doc: Document) -> None:
    catalogue = load_catalogue(doc.tree.text, doc.file, doc.tree)
    doc.catalogue = catalogue
    spec = catalogue.spec
    for i, m in enumerate(catalogue.wire.metrics):
        if m.name in spec.metrics:
            doc.metric_defs.append(MetricDef(("metrics", i), spec.metrics[m.name]))
    for i, alert in enumerate(spec.alerts):
        query = Query(alert.expr, ("alerts", i, "expr"), "alert", (alert.name,))
        doc.queries.append(query)
        annotations = {"summary": alert.summary, "description": alert.description, "runbook_url": alert.runbook_url}
        doc.rules.append(
            Rule(
                path=("alerts", i),
                query=query,
                alert=alert.name,
                for_=alert.for_,
                labels=alert.all_labels,
                annotations=annotations,
                label_paths={"severity": ("alerts", i, "severity")}
                | {k: ("alerts", i, "labels", k) for k in alert.labels},
                annotation_paths={k: ("alerts", i, k) for k in annotations},
            )
        )
    for i, wire_alert in enumerate(catalogue.wire.alerts):
        form = wire_alert.datadog
        if form is not None and not isinstance(form, bool) and form.query is not None:
            where: PathKey = ("alerts", i, "datadog", "query")
            doc.datadog_queries.append(DatadogQuery(form.query, where, "monitor", (wire_alert.name,)))
    for i, wire_dashboard in enumerate(catalogue.wire.dashboards):
        for k, panel in enumerate(wire_dashboard.panels):
            subjects = (wire_dashboard.title, wire_dashboard.uid or "", panel.title)
            widget = panel.datadog
            if widget is not None:
                base: PathKey = ("dashboards", i, "panels", k, "datadog")
                named = _named(subjects)
                if widget.query is not None:
                    doc.datadog_queries.append(DatadogQuery(widget.query, (*base, "query"), "widget", named))
                for name, text in (widget.queries or {}).items():
                    doc.datadog_queries.append(DatadogQuery(text, (*base, "queries", name), "widget", named))
            if not panel.grafana:
                continue
            if panel.targets is None:
                doc.queries.append(
                    Query(panel.expr or "", ("dashboards", i, "panels", k, "expr"), "panel", _named(subjects))
                )
            else:
                for t, target in enumerate(panel.targets):
                    path = ("dashboards", i, "panels", k, "targets", t, "expr")
                    doc.queries.append(Query(target.expr, path, "panel", _named(subjects)))


def _named(subjects: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in subjects if s)


# --- Prometheus rule files and PrometheusRule resources -------------------------------------------------


def _groups(doc: Document, groups: Any, base: PathKey) -> None:
    if not isinstance(groups, list):
        doc.structure.append((base, "expected `groups` to be a list of rule groups"))
        return
    for g, group in enumerate(groups):
        gpath = (*base, g)
        if not isinstance(group, dict):
            doc.structure.append((gpath, "expected a rule group (a mapping with `name` and `rules`)"))
            continue
        if not isinstance(group.get("name"), str) or not group.get("name"):
            doc.structure.append((gpath, "a rule group needs a `name`"))
        rules = group.get("rules")
        rules = [] if rules is None else rules  # `rules:` with nothing under it: promtool accepts it
        if not isinstance(rules, list):
            doc.structure.append(((*gpath, "rules"), "expected `rules` to be a list"))
            continue
        for r, rule in enumerate(rules):
            _rule(doc, rule, (*gpath, "rules", r))


def _rule(doc: Document, rule: Any, path: PathKey) -> None:
    if not isinstance(rule, dict):
        doc.structure.append((path, "expected a rule (a mapping with `alert` or `record`, and `expr`)"))
        return
    alert, record, expr = rule.get("alert"), rule.get("record"), rule.get("expr")
    if (alert is None) == (record is None):
        doc.structure.append((path, "a rule needs exactly one of `alert` and `record`"))
        return
    name = alert if alert is not None else record
    if not isinstance(name, str) or not name:
        doc.structure.append(((*path, "alert" if alert is not None else "record"), "expected a non-empty name"))
        return
    if isinstance(expr, int | float) and not isinstance(expr, bool):
        expr = str(expr)
    if not isinstance(expr, str) or not expr.strip():
        doc.structure.append(((*path, "expr"), "a rule needs an `expr` (a PromQL expression)"))
        return
    query = Query(expr, (*path, "expr"), "alert" if alert is not None else "record", (name,))
    doc.queries.append(query)
    parsed = Rule(path=path, query=query, alert=alert, record=record)
    for_ = rule.get("for")
    if for_ is not None:
        parsed.for_ = str(for_)
    for key, target, paths in (
        ("labels", parsed.labels, parsed.label_paths),
        ("annotations", parsed.annotations, parsed.annotation_paths),
    ):
        value = rule.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            doc.structure.append(((*path, key), f"expected `{key}` to be a mapping"))
            continue
        for k, v in value.items():
            if not LABEL_NAME.match(str(k)):
                doc.structure.append(
                    ((*path, key, k), f"{key[:-1]} name {k!r} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
                )
            target[str(k)] = "" if v is None else str(v)
            paths[str(k)] = (*path, key, k)
    doc.rules.append(parsed)


# --- Grafana ------------------------------------------------------------------------------------------


def _dashboard(doc: Document, data: dict[str, Any], base: PathKey) -> None:
    title = str(data.get("title", ""))
    dashboard = GrafanaDashboard(base, data, title, [])
    doc.dashboards.append(dashboard)
    panels: list[tuple[PathKey, Any]] = []
    top = data.get("panels", [])
    if isinstance(top, list):
        panels += [((*base, "panels", i), p) for i, p in enumerate(top)]
    elif top is not None:
        doc.structure.append(((*base, "panels"), "expected `panels` to be a list"))
    rows = data.get("rows", [])
    if isinstance(rows, list):
        for r, row in enumerate(rows):
            if isinstance(row, dict) and isinstance(row.get("panels"), list):
                panels += [((*base, "rows", r, "panels", i), p) for i, p in enumerate(row["panels"])]
    while panels:
        path, panel = panels.pop(0)
        if not isinstance(panel, dict):
            doc.structure.append((path, "expected a panel (a mapping)"))
            continue
        if isinstance(panel.get("panels"), list):  # a collapsed row holds its panels
            panels += [((*path, "panels", i), p) for i, p in enumerate(panel["panels"])]
        ptitle = str(panel.get("title", ""))
        dashboard.panels.append(GrafanaPanel(path, panel, ptitle))
        targets = panel.get("targets", [])
        if not isinstance(targets, list):
            continue
        for t, target in enumerate(targets):
            if not isinstance(target, dict) or not isinstance(target.get("expr"), str):
                continue
            if not target["expr"].strip() or not _prometheus(target, panel):
                continue
            subjects = _named((title, str(data.get("uid", "")), ptitle))
            doc.queries.append(Query(target["expr"], (*path, "targets", t, "expr"), "panel", subjects))


def _prometheus(target: dict[str, Any], panel: dict[str, Any]) -> bool:
    """False when the target or panel names a datasource of another type (Loki queries have ``expr`` too)."""
    for holder in (target, panel):
        source = holder.get("datasource")
        if isinstance(source, dict) and source.get("type") not in (None, "prometheus", "datasource"):
            return False
    return True


def where(path: PathKey) -> str:
    return dotted(path)
