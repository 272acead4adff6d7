"""Every example spec lints clean: the seeds' deliberate oddities carry reasoned suppressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobpulse.lint.problem import Problem, Severity
from jobpulse.lint.runner import lint_spec_problems
from tests.helpers import EXAMPLE_SPECS, PREVIEW_SPEC


def _show(problems: list[Problem]) -> str:
    return "\n".join(f"{p.line}:{p.column} {p.severity.value} {p.check} {p.message}" for p in problems)


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_example_spec_lints_clean(spec_path: Path) -> None:
    """Clean is what `jobpulse lint` and `jobpulse build` require: no error-level problem."""
    errors = [p for p in lint_spec_problems(spec_path) if p.severity is Severity.ERROR]
    assert errors == [], _show(errors)


def test_preview_jobs_has_no_problem_at_all() -> None:
    problems = lint_spec_problems(PREVIEW_SPEC)
    assert problems == [], _show(problems)


def test_preview_jobs_suppressions_all_give_reasons() -> None:
    import yaml

    spec = yaml.safe_load(PREVIEW_SPEC.read_text(encoding="utf-8"))
    allow = spec["lint"]["allow"]
    assert {entry["check"] for entry in allow} == {"naming/units", "promql/vector_matching", "dashboard/rate_interval"}
    assert all(len(entry["reason"].split()) >= 8 for entry in allow)
