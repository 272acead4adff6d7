"""jobpulse test: the spec's alert tests run in promtool and really fail when an alert is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobpulse.cli.test import test_command as jobpulse_test
from tests.helpers import EXAMPLE_SPECS, PREVIEW_SPEC

PREVIEW_LINES = [
    "ok   failure rate above 10% pages after 10 minutes",
    "ok   failure rate of 5% stays silent",
    "ok   p95 above 5 minutes warns after 15 minutes",
    "ok   p95 under 2 minutes stays silent",
    "ok   queue depth above 10 for 5 minutes warns",
    "ok   a draining queue stays silent",
]


#: the examples with the most generated tests run in shards (``--shard I/N``), so the suite spreads them
SHARDS = {"platform": 3}
EXAMPLE_RUNS = [
    (spec, f"{i}/{SHARDS[spec.parent.name]}" if spec.parent.name in SHARDS else None)
    for spec in EXAMPLE_SPECS
    for i in range(1, SHARDS.get(spec.parent.name, 1) + 1)
]


@pytest.mark.parametrize(
    ("spec", "part"), EXAMPLE_RUNS, ids=lambda v: v.parent.name if isinstance(v, Path) else (v or "all")
)
def test_example_alert_tests_pass(spec: Path, part: str | None, promtool: str) -> None:
    result = CliRunner().invoke(jobpulse_test, [str(spec), *(["--shard", part] if part else [])])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
    if part is not None:
        # the shards of an example together run each of its tests exactly once (tests/verify/test_promtool_groups.py)
        assert f"(shard {part})" in result.output
        return
    if spec == PREVIEW_SPEC:
        # each seed alert fires on its fault and stays silent when healthy
        for line in PREVIEW_LINES:
            assert line in result.output


def _without_slos(text: str) -> str:
    """The spec without its SLOs: the alert-mutation tests only need the seed's own alerts."""
    data = yaml.safe_load(text)
    data.pop("slos", None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize(
    ("old", "new", "failing"),
    [
        (
            "sum(rate(preview_generation_jobs_completed_total[10m])) > 0.1",
            "sum(rate(preview_generation_jobs_completed_total[10m])) > 0.5",
            "failure rate above 10% pages after 10 minutes",
        ),
        (
            "sum(rate(preview_generation_jobs_completed_total[10m])) > 0.1",
            "sum(rate(preview_generation_jobs_completed_total[10m])) > 0.01",
            "failure rate of 5% stays silent",
        ),
        (
            "expr: preview_generation_queue_depth > 10\n    for: 5m",
            "expr: preview_generation_queue_depth > 10\n    for: 15m",
            "queue depth above 10 for 5 minutes warns",
        ),
        ("      ) > 300000", "      ) > 60000", "p95 under 2 minutes stays silent"),
    ],
)
def test_a_broken_alert_fails_its_test(tmp_path: Path, promtool: str, old: str, new: str, failing: str) -> None:
    text = PREVIEW_SPEC.read_text()
    assert old in text
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(_without_slos(text.replace(old, new)))
    result = CliRunner().invoke(jobpulse_test, [str(spec)])
    assert result.exit_code == 1, result.output
    assert f"FAIL {failing}" in result.output


def test_spec_without_tests_is_a_problem(tmp_path: Path, promtool: str) -> None:
    from tests.helpers import MINIMAL_SPEC

    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(MINIMAL_SPEC)
    result = CliRunner().invoke(jobpulse_test, [str(spec)])
    assert result.exit_code == 1
    assert "no alert tests" in result.output
