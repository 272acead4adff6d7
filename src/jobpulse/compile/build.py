"""Compile a resolved spec into the set of artifacts ``jobpulse build`` writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobpulse.compile.alertmanager import alertmanager_config
from jobpulse.compile.canary_dashboards import rollout_dashboard
from jobpulse.compile.canary_rules import canary_tests
from jobpulse.compile.dashboards import build_dashboard
from jobpulse.compile.datadog import datadog_dashboard, datadog_monitors
from jobpulse.compile.docs import alerts_doc, metrics_doc
from jobpulse.compile.kubernetes import kubernetes_resources
from jobpulse.compile.llm_rules import llm_tests
from jobpulse.compile.rule_target import fit_rule_file
from jobpulse.compile.rules import rule_groups
from jobpulse.compile.scrape import prometheus_scrape_configs, vmagent_config
from jobpulse.compile.slo_dashboards import slo_dashboard
from jobpulse.compile.slo_tests import all_slo_tests
from jobpulse.compile.tests import TestGroup, test_files, test_group
from jobpulse.spec.model import Spec
from jobpulse.spec.targets import RuleTarget


@dataclass(frozen=True)
class Artifact:
    """One output file: its path relative to the build directory, its format and its content."""

    path: str
    format: str  # "yaml" | "json" | "markdown"
    content: Any


@dataclass
class BuildResult:
    spec: Spec
    artifacts: list[Artifact] = field(default_factory=list)
    test_groups: list[TestGroup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, path: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.path == path:
                return artifact
        raise KeyError(path)

    @property
    def rule_file(self) -> str:
        return f"prometheus/{self.spec.service.name}.rules.yml"


def compile_spec(spec: Spec, target: RuleTarget | None = None, *, kubernetes: bool = False) -> BuildResult:
    """Every artifact of ``jobpulse build``; rule files fit ``target`` (default: the spec's ``lint.target``).

    ``kubernetes`` adds the Prometheus Operator and Grafana sidecar resources (``--k8s``).
    """
    result = BuildResult(spec)
    rule_path = f"prometheus/{spec.service.name}.rules.yml"
    rule_file, dropped = fit_rule_file(rule_groups(spec), target or spec.rule_target)
    result.notes += dropped
    result.artifacts.append(Artifact(rule_path, "yaml", rule_file))
    dashboards = [*spec.dashboards, *(slo_dashboard(slo, spec.service.title) for slo in spec.slos)]
    dashboards += [rollout_dashboard(rollout, spec.service.title) for rollout in spec.rollouts]
    built = [(dashboard.uid, build_dashboard(dashboard, spec.service)) for dashboard in dashboards]
    for uid, content in built:
        result.artifacts.append(Artifact(f"grafana/{uid}.json", "json", content))
    if spec.datadog is not None:
        for datadog in spec.datadog.dashboards:
            result.artifacts.append(Artifact(f"datadog/{datadog.uid}.json", "json", datadog_dashboard(datadog)))
        if spec.datadog.monitors:
            result.artifacts.append(Artifact("datadog/monitors.json", "json", datadog_monitors(spec.datadog.monitors)))
        result.notes += [
            f"dashboard {dashboard!r}: panel {panel!r} has no `datadog` widget, so it is on Grafana only"
            for dashboard, panel in spec.datadog.skipped_panels
        ]
    if spec.endpoints:
        result.artifacts.append(Artifact("scrape/prometheus.yml", "yaml", prometheus_scrape_configs(spec)))
        result.artifacts.append(Artifact("scrape/vmagent.yml", "yaml", vmagent_config(spec)))
    if kubernetes:
        for path, resource in kubernetes_resources(spec, rule_file, built).items():
            result.artifacts.append(Artifact(path, "yaml", resource))
    result.artifacts.append(Artifact("alertmanager/alertmanager.yml", "yaml", alertmanager_config(spec)))
    result.artifacts.append(Artifact("docs/metrics.md", "markdown", metrics_doc(spec)))
    result.artifacts.append(Artifact("docs/alerts.md", "markdown", alerts_doc(spec)))
    generated, notes = all_slo_tests(spec)
    result.notes += notes
    own = [TestGroup(test_group(t), spec.service.evaluation_interval) for t in spec.tests]
    result.test_groups = own + generated + llm_tests(spec) + canary_tests(spec)
    for path, content in test_files(spec, f"../{rule_path}", result.test_groups).items():
        result.artifacts.append(Artifact(path, "yaml", content))
    return result
