"""Load a spec file: YAML with positions → wire models → cross-checked resolved model."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from jobpulse.spec import model, wire
from jobpulse.spec.datadog_resolve import resolve_datadog
from jobpulse.spec.errors import Location, Problem, SpecError, YamlSourceError
from jobpulse.spec.located import located_problems
from jobpulse.spec.queries import SCRAPE_SERIES, closest, query_problems
from jobpulse.spec.rollout import track_label
from jobpulse.spec.rollout_resolve import resolve_rollouts
from jobpulse.spec.scrape import resolve_kubernetes, resolve_scrape
from jobpulse.spec.slo_resolve import resolve_slos
from jobpulse.spec.targets import DEFAULT_TARGET, RuleTarget
from jobpulse.spec.wire_llm import resolve_llm
from jobpulse.spec.wire_status import StatusPage, resolve_status_page
from jobpulse.spec.yaml_limits import read_limited
from jobpulse.spec.yamlpos import PathKey, Positions, dotted, load_yaml

__all__ = ["SCRAPE_SERIES", "Resolver", "load_spec", "load_spec_text", "query_problems"]


def load_spec(path: str | Path) -> model.Spec:
    """Read, validate and resolve a spec file; raises :class:`SpecError` naming file:line:column."""
    path = Path(path)
    try:
        text = read_limited(path)
    except OSError as exc:
        raise SpecError([Problem(Location(str(path), 1, 1), "", f"cannot read spec: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [Problem(Location(str(path), 1, 1), "", f"cannot read spec: not UTF-8 ({exc.reason})")]
        ) from None
    except YamlSourceError as exc:
        raise SpecError([Problem(Location(str(path), exc.line, exc.column), "", exc.message)]) from None
    return load_spec_text(text, str(path))


def load_spec_text(text: str, file: str = "<spec>") -> model.Spec:
    data, positions = load_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError([Problem(positions.locate(()), "", "expected a mapping with `version`, `service`, `metrics`")])
    version = data.get("version")
    if version != "jobpulse/v1":
        where = positions.locate(("version",)) if "version" in data else positions.locate(())
        got = f"got {version!r}" if "version" in data else "it is missing"
        raise SpecError([Problem(where, "version", f"expected `version: jobpulse/v1`, {got}")])
    try:
        spec = wire.SpecV1.model_validate(data)
    except ValidationError as exc:
        raise SpecError(located_problems(exc, data, positions)) from None
    return Resolver(spec, positions, Path(file)).resolve()


# --- resolution and cross-checks ----------------------------------------------------------------------


class Resolver:
    def __init__(self, spec: wire.SpecV1, positions: Positions, path: Path) -> None:
        self.spec = spec
        self.positions = positions
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, path: PathKey, message: str) -> None:
        self.problems.append(Problem(self.positions.locate(path), dotted(path), message))

    def resolve(self) -> model.Spec:
        service = self.spec.service
        resolved_service = model.Service(
            name=service.name,
            title=service.title or service.name,
            description=service.description,
            scrape_interval=service.scrape_interval,
            evaluation_interval=service.evaluation_interval,
            runbook_base_url=service.runbook_base_url,
            target_labels=tuple(service.target_labels),
            grafana_url=service.grafana_url.rstrip("/"),
        )
        metrics = self.metrics()
        jobs = self.jobs(metrics)
        result = model.Spec(
            path=self.path,
            service=resolved_service,
            metrics=metrics,
            jobs=jobs,
            alerts=self.alerts(resolved_service),
            dashboards=self.dashboards(service.name),
            tests=list(self.spec.tests),
            alertmanager=self.spec.alertmanager,
            rule_target=RuleTarget.parse(self.spec.lint.target) if self.spec.lint.target else DEFAULT_TARGET,
            endpoints=resolve_scrape(self.spec.scrape, service.name, service.scrape_interval),
            kubernetes=resolve_kubernetes(self.spec.kubernetes),
        )
        self.check_queries(result)
        result.slos = resolve_slos(
            list(self.spec.slos),
            metrics,
            resolved_service,
            self.problem,
            lambda query: query_problems(query, result.series_index(), resolved_service.target_labels),
        )
        self.check_names(result)
        taken = {a.name for a in result.alerts} | {s.alert_name for s in result.slos}
        result.llm = resolve_llm(self.spec.llm, metrics, self.problem, taken)
        result.rollouts = resolve_rollouts(
            list(self.spec.rollouts),
            metrics,
            resolved_service,
            self.problem,
            lambda query: query_problems(query, result.series_index(), resolved_service.target_labels),
            taken | {d.uid for d in result.dashboards} | {s.dashboard_uid for s in result.slos},
        )
        self.check_alertmanager(result)
        self.check_tests(result)
        result.status_page = self.status_page(result)
        self.check_variables(result)
        result.datadog = resolve_datadog(
            self.spec, metrics, result.dashboards, result.alerts, resolved_service, self.problem
        )
        if self.problems:
            raise SpecError(self.problems)
        return result

    def status_page(self, spec: model.Spec) -> StatusPage | None:
        slo_alerts = {s.name: (s.alert_name, *((s.absent_alert_name,) if s.absent_enabled else ())) for s in spec.slos}
        severities = {a.severity for a in spec.alerts} | {t.severity for s in spec.slos for t in s.tiers}
        return resolve_status_page(
            self.spec.status_page,
            service_title=spec.service.title,
            alert_names={a.name for a in spec.alerts},
            slo_alerts=slo_alerts,
            severities=severities,
            problem=self.problem,
        )

    def metrics(self) -> dict[str, model.Metric]:
        out: dict[str, model.Metric] = {}
        exposed: dict[str, str] = {}
        for i, m in enumerate(self.spec.metrics):
            labels = tuple(
                model.Label(name, frozenset(spec.values) if spec.values else None, spec.max_values, spec.description)
                for name, spec in m.labels.items()
            )
            buckets = tuple(m.buckets) if m.buckets else None
            if m.type == "histogram" and buckets is None:
                scale = model.UNIT_SCALE.get(m.unit)
                if scale is None:
                    self.problem(("metrics", i, "buckets"), f"histogram with unit {m.unit!r} needs explicit `buckets`")
                    continue
                buckets = tuple(b * scale for b in model.SECONDS_BUCKETS)
            metric = model.Metric(m.name, m.type, m.help, m.unit, labels, buckets)
            for series in metric.series_names:
                if series in exposed:
                    self.problem(
                        ("metrics", i, "name"),
                        f"{m.name} exposes {series}, which {exposed[series]} also exposes",
                    )
                exposed[series] = m.name
            if m.name in out:
                continue
            out[m.name] = metric
        return out

    def jobs(self, metrics: dict[str, model.Metric]) -> dict[str, model.Job]:
        out: dict[str, model.Job] = {}
        track = track_label([r.label for r in self.spec.rollouts])
        for i, j in enumerate(self.spec.jobs):
            if j.name in out:
                self.problem(("jobs", i, "name"), f"job {j.name!r} is defined twice")
                continue
            if j.outcome_label in j.attributes:
                self.problem(("jobs", i, "outcome_label"), "the outcome label must not also be an attribute")
            roles: dict[str, model.Metric] = {}
            for role, (types, outcome_ok) in model.JOB_ROLES.items():
                name = getattr(j.metrics, role)
                if name is None:
                    continue
                where = ("jobs", i, "metrics", role)
                metric = metrics.get(name)
                if metric is None:
                    self.problem(where, f"unknown metric {name!r}; the catalogue has {closest(name, metrics)}")
                    continue
                if metric.type not in types:
                    self.problem(where, f"{role} must be a {' or '.join(types)}, but {name} is a {metric.type}")
                    continue
                # the rollout's track label is filled by the tracker from the process's track (docs/canary.md)
                allowed = set(j.attributes) | ({j.outcome_label} if outcome_ok else set()) | {track}
                extra = [n for n in metric.label_names if n not in allowed]
                if extra:
                    why = (
                        f"the outcome label {j.outcome_label!r} is only known when a job finishes"
                        if j.outcome_label in extra
                        else f"add them to the job's `attributes` ({', '.join(j.attributes) or 'none yet'})"
                    )
                    self.problem(where, f"{name} has labels {', '.join(extra)} that the job cannot fill: {why}")
                    continue
                if outcome_ok and j.outcome_label in metric.label_names:
                    label = metric.label(j.outcome_label)
                    assert label is not None
                    missing = [
                        v for v in (j.outcomes.success, j.outcomes.failure) if label.values and v not in label.values
                    ]
                    if missing:
                        self.problem(where, f"{name}'s {j.outcome_label} values do not allow {', '.join(missing)}")
                        continue
                roles[role] = metric
            out[j.name] = model.Job(
                name=j.name,
                description=j.description,
                attributes=tuple(j.attributes),
                outcome_label=j.outcome_label,
                success=j.outcomes.success,
                failure=j.outcomes.failure,
                duration_from=j.duration_from,
                retries_count_as_enqueued=j.retries_count_as_enqueued,
                **roles,
            )
        return out

    def alerts(self, service: model.Service) -> list[model.Alert]:
        out: list[model.Alert] = []
        names: set[str] = set()
        for i, a in enumerate(self.spec.alerts):
            if a.name in names:
                self.problem(("alerts", i, "name"), f"alert {a.name!r} is defined twice")
            names.add(a.name)
            anchor = model.alert_anchor(a.name)
            url = a.runbook_url or f"{service.runbook_base_url}docs/alerts.md#{anchor}"
            out.append(
                model.Alert(
                    name=a.name,
                    expr=a.expr.strip(),
                    for_=a.for_,
                    keep_firing_for=a.keep_firing_for,
                    severity=a.severity,
                    labels=dict(a.labels),
                    summary=a.summary,
                    description=a.description,
                    runbook=a.runbook.strip(),
                    runbook_url=url,
                    anchor=anchor,
                )
            )
        return out

    def dashboards(self, service: str) -> list[model.Dashboard]:
        out: list[model.Dashboard] = []
        uids: set[str] = set()
        for i, d in enumerate(self.spec.dashboards):
            uid = d.uid or model.dashboard_uid(service, d.title)
            if uid in uids:
                self.problem(("dashboards", i, "title"), f"dashboard uid {uid!r} is used twice; set `uid` on one")
            uids.add(uid)
            grafana_panels = [p for p in d.panels if p.grafana]
            panels = tuple(
                model.Panel(
                    id=n + 1,
                    title=p.title,
                    type=p.type,
                    description=p.description,
                    targets=tuple(
                        model.Target(t.expr.strip(), t.legend, t.instant, model.ref_id(k))
                        for k, t in enumerate(p.all_targets())
                    ),
                    unit=p.unit or "short",
                    width=p.width,
                    height=p.height,
                    decimals=p.decimals,
                    min=p.min,
                    max=p.max,
                    row=p.row,
                )
                for n, p in enumerate(grafana_panels)
            )
            out.append(
                model.Dashboard(
                    uid, d.title, d.description, tuple(d.tags), d.refresh, d.time_from, panels, tuple(d.variables)
                )
            )
        return out

    def queries(self) -> list[tuple[PathKey, str]]:
        found: list[tuple[PathKey, str]] = []
        for i, a in enumerate(self.spec.alerts):
            found.append((("alerts", i, "expr"), a.expr))
        for i, d in enumerate(self.spec.dashboards):
            for k, p in enumerate(d.panels):
                if not p.grafana:
                    continue
                if p.targets is None:
                    found.append((("dashboards", i, "panels", k, "expr"), p.expr or ""))
                else:
                    for t, target in enumerate(p.targets):
                        found.append((("dashboards", i, "panels", k, "targets", t, "expr"), target.expr))
        return found

    def check_queries(self, spec: model.Spec) -> None:
        index = spec.series_index()
        for path, query in self.queries():
            for message in query_problems(query, index, spec.service.target_labels):
                self.problem(path, message)

    def check_names(self, spec: model.Spec) -> None:
        taken = {a.name: ("alerts", i, "name") for i, a in enumerate(self.spec.alerts)}
        uids = {d.uid for d in spec.dashboards}
        for i, slo in enumerate(spec.slos):
            for name in (slo.alert_name, slo.absent_alert_name):
                if name in taken:
                    self.problem(taken[name], f"alert {name!r} clashes with the alert generated for SLO {slo.name!r}")
            if slo.dashboard_uid in uids:
                self.problem(("slos", i, "name"), f"dashboard uid {slo.dashboard_uid!r} is already used")

    def check_alertmanager(self, spec: model.Spec) -> None:
        seen: dict[str, str] = {}
        names: set[str] = set()
        for i, receiver in enumerate(spec.alertmanager.receivers):
            if receiver.name in names:
                self.problem(("alertmanager", "receivers", i, "name"), f"receiver {receiver.name!r} is defined twice")
            names.add(receiver.name)
            for severity in receiver.severities:
                if severity in seen and not receiver.continue_:
                    self.problem(
                        ("alertmanager", "receivers", i, "severities"),
                        f"severity {severity!r} already goes to {seen[severity]!r}; set `continue: true` on that "
                        "receiver to send it to both",
                    )
                seen.setdefault(severity, receiver.name)

    def check_variables(self, spec: model.Spec) -> None:
        """A template variable lists the values of a label some metric has (of its metric, when named)."""
        index = spec.series_index()
        for i, d in enumerate(self.spec.dashboards):
            names: set[str] = set()
            for v, variable in enumerate(d.variables):
                where = ("dashboards", i, "variables", v)
                if variable.name in names:
                    self.problem((*where, "name"), f"variable {variable.name!r} is defined twice")
                names.add(variable.name)
                if variable.metric is not None:
                    entry = index.get(variable.metric)
                    if entry is None:
                        self.problem((*where, "query"), f"unknown metric {variable.metric!r} in label_values()")
                        continue
                    labels = set(entry[0].label_names) | set(spec.service.target_labels)
                else:
                    labels = {n for m in spec.metrics.values() for n in m.label_names} | set(spec.service.target_labels)
                if variable.label_name not in labels:
                    self.problem(
                        (*where, "query"),
                        f"label_values(): no such label {variable.label_name!r}"
                        + (f" on {variable.metric}" if variable.metric else ""),
                    )

    def check_tests(self, spec: model.Spec) -> None:
        alert_names = {a.name for a in spec.alerts} | {s.alert_name for s in spec.slos}
        alert_names |= {s.absent_alert_name for s in spec.slos if s.absent_enabled}
        alert_names |= {r.alert_name for r in spec.rollouts}
        for i, test in enumerate(spec.tests):
            for k, case in enumerate(test.alert_rule_test):
                if case.alertname not in alert_names:
                    self.problem(
                        ("tests", i, "alert_rule_test", k, "alertname"),
                        f"unknown alert {case.alertname!r}; the spec has {closest(case.alertname, alert_names)}",
                    )
