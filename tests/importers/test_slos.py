"""jobpulse import: seed 004's JSON SLOs and OpenSLO v1 documents become spec YAML; what cannot be
converted is said, and the converted SLOs load into a spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobpulse.cli.import_slos import import_command
from jobpulse.importers.slos import SourceFormatError, apply_settings, from_openslo, from_seed_json
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec_text
from tests.helpers import MINIMAL_SPEC

FIXTURES = Path(__file__).parents[1] / "fixtures" / "import"
SEED_JSON = FIXTURES / "seed004_slos.json"
OPENSLO = FIXTURES / "openslo.yaml"


def test_seed_004_json_converts_every_slo_and_says_what_is_missing() -> None:
    result = from_seed_json(SEED_JSON.read_text())
    assert [(s["name"], s["objective"], s["period"]) for s in result.slos] == [
        ("api-availability", 99.9, "30d"),
        ("api-latency", 95.0, "30d"),
        ("api-error-rate", 99.5, "30d"),
        ("workers-availability", 99.5, "30d"),
        ("workers-processing-time", 95.0, "30d"),
        ("workers-queue-lag", 99.0, "30d"),
    ]
    assert result.slos[1]["sli"]["latency"]["threshold"] == 2000.0
    assert "events" in result.slos[0]["sli"]
    # the JSON has no metric names: every SLO is reported, by name, as needing its metric
    assert [p.split(":")[0] for p in result.problems] == [s["name"] for s in result.slos]
    assert "no unit" in result.problems[1]


def test_settings_fill_in_the_metrics() -> None:
    result = from_seed_json(SEED_JSON.read_text())
    apply_settings(
        result,
        [
            'api-availability.bad=jobs_done_total{outcome="error"}',
            "api-availability.total=jobs_done_total",
            "api-latency.metric=job_seconds",
            "api-latency.threshold=1",
        ],
    )
    assert [p.split(":")[0] for p in result.problems] == [
        "api-error-rate",
        "workers-availability",
        "workers-processing-time",
        "workers-queue-lag",
    ]
    with pytest.raises(SourceFormatError, match=r"NAME\.FIELD=VALUE"):
        apply_settings(result, ["nope"])


def test_converted_slos_load_into_a_spec() -> None:
    result = from_openslo(OPENSLO.read_text())
    spec = load_spec_text(MINIMAL_SPEC + yaml.safe_dump({"slos": result.slos}), "s.yaml")
    assert [s.name for s in spec.slos] == ["job-success", "job-latency"]
    success, latency = spec.slos
    assert str(success.objective) == "99.5" and success.period == "28d"
    assert success.sli.good is not None and 'jobs_done_total{outcome="ok"}' in success.sli.good
    assert latency.calendar == "month" and latency.sli.latency_le == "1.0"


def test_openslo_reports_what_it_cannot_convert() -> None:
    result = from_openslo(OPENSLO.read_text())
    problems = "\n".join(result.problems)
    assert "job-p95: budgetingMethod Timeslices counts good time slices" in problems and "quantile" in problems
    assert "page-on-burn: AlertPolicy is not converted" in problems


def test_placeholders_are_errors_with_a_location_when_loaded() -> None:
    result = from_seed_json(SEED_JSON.read_text())
    with pytest.raises(SpecError, match=r"s\.yaml:\d+:\d+: error: slos\[0\]\.sli\.events\.\w+: unknown metric 'TODO_"):
        load_spec_text(MINIMAL_SPEC + yaml.safe_dump({"slos": result.slos[:1]}), "s.yaml")


def test_cli_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    incomplete = runner.invoke(import_command, [str(SEED_JSON), "-o", str(tmp_path / "slos.yaml")])
    assert incomplete.exit_code == 1
    assert "not converted: api-availability" in incomplete.output
    assert (tmp_path / "slos.yaml").read_text().startswith("# Converted by `jobpulse import`")
    garbage = tmp_path / "x.txt"
    garbage.write_text("hello")
    assert runner.invoke(import_command, [str(garbage)]).exit_code == 2
    assert runner.invoke(import_command, [str(garbage), "--from", "seed-json"]).exit_code == 2
    complete = tmp_path / "one.yaml"
    complete.write_text(
        OPENSLO.read_text().split("---\napiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: job-latency")[0]
    )
    result = runner.invoke(import_command, [str(complete)])
    assert result.exit_code == 0, result.output
    assert "converted 1 SLO(s)" in result.output
