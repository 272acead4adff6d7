"""Compile a resolved spec into the set of artifacts ``jobpulse build`` writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobpulse.compile.dashboards import build_dashboard
from jobpulse.compile.docs import alerts_doc, metrics_doc
from jobpulse.compile.rules import rule_groups
from jobpulse.compile.tests import test_file
from jobpulse.spec.model import Spec


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

    def get(self, path: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.path == path:
                return artifact
        raise KeyError(path)

    @property
    def rule_file(self) -> str:
        return f"prometheus/{self.spec.service.name}.rules.yml"

    @property
    def test_file(self) -> str | None:
        return f"tests/{self.spec.service.name}.tests.yml" if self.spec.tests else None


def compile_spec(spec: Spec) -> BuildResult:
    result = BuildResult(spec)
    rule_path = f"prometheus/{spec.service.name}.rules.yml"
    result.artifacts.append(Artifact(rule_path, "yaml", rule_groups(spec)))
    for dashboard in spec.dashboards:
        result.artifacts.append(
            Artifact(f"grafana/{dashboard.uid}.json", "json", build_dashboard(dashboard, spec.service))
        )
    result.artifacts.append(Artifact("docs/metrics.md", "markdown", metrics_doc(spec)))
    result.artifacts.append(Artifact("docs/alerts.md", "markdown", alerts_doc(spec)))
    if spec.tests:
        result.artifacts.append(
            Artifact(f"tests/{spec.service.name}.tests.yml", "yaml", test_file(spec, f"../{rule_path}"))
        )
    return result
