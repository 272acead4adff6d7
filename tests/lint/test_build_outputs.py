"""What `jobpulse build` writes lints clean against its own spec: no false positives on generated files."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobpulse.compile import compile_spec
from jobpulse.lint.problem import Severity
from jobpulse.lint.runner import lint_paths
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from tests.helpers import EXAMPLE_SPECS
from tests.lint.util import CATALOGUE_SPEC


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_generated_rules_and_dashboards_have_no_lint_errors(spec_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    write_build(compile_spec(load_spec(spec_path)), out)
    result = lint_paths([out], spec=spec_path)
    assert any("rule file" in kind for kinds in result.kinds.values() for kind in kinds)
    assert any("Grafana" in kind for kinds in result.kinds.values() for kind in kinds)
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    assert errors == [], "\n".join(f"{p.file}:{p.line}:{p.column} {p.check} {p.message}" for p in errors)


def test_recording_rules_of_one_file_are_known_in_another(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: job:http_requests:rate5m\n"
        "        expr: sum by (job) (rate(http_requests_total[5m]))\n"
    )
    (tmp_path / "alerts.yml").write_text(
        "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: job:http_requests:rate5m > 1\n"
        "        for: 5m\n        labels: {severity: info}\n"
        "        annotations: {summary: s, description: d, runbook_url: r}\n"
    )
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(CATALOGUE_SPEC)
    together = lint_paths([tmp_path / "alerts.yml", tmp_path / "rules.yml"], spec=spec)
    alone = lint_paths([tmp_path / "alerts.yml"], spec=spec)
    assert [p.check for p in together.problems] == []
    assert [p.check for p in alone.problems] == ["promql/series"]
