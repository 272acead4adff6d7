"""Spec loading: valid specs resolve; every error names file:line:column and what was expected."""

from __future__ import annotations

import pytest

from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec, load_spec_text
from tests.helpers import EXAMPLE_SPECS, MINIMAL_SPEC, PREVIEW_SPEC

BASE = PREVIEW_SPEC.read_text()


def test_preview_spec_resolves_the_seed_catalogue() -> None:
    spec = load_spec(PREVIEW_SPEC)
    assert spec.service.name == "preview-jobs"
    assert {name: m.type for name, m in spec.metrics.items()} == {
        "preview_generation_jobs_total": "counter",
        "preview_generation_jobs_completed_total": "counter",
        "preview_generation_job_duration_ms": "histogram",
        "preview_generation_queue_depth": "gauge",
    }
    assert spec.metrics["preview_generation_jobs_total"].label_names == ("scenario", "backend")
    assert spec.metrics["preview_generation_jobs_completed_total"].label_names == ("outcome",)
    assert spec.metrics["preview_generation_job_duration_ms"].unit_scale == 1000.0
    assert [a.name for a in spec.alerts] == [
        "PreviewGenerationHighFailureRate",
        "PreviewGenerationSlow",
        "PreviewQueueStalled",
    ]
    assert [(a.for_, a.severity) for a in spec.alerts] == [("10m", "page"), ("15m", "warn"), ("5m", "warn")]
    assert [p.title for p in spec.dashboards[0].panels] == [
        "Preview jobs per minute",
        "Job outcomes (%)",
        "Preview queue depth",
        "Job duration (p95 ms)",
    ]
    job = spec.jobs["preview"]
    assert (job.success, job.failure) == ("ready", "failed")
    assert set(job.roles()) == {"enqueued", "completed", "duration", "queue_depth"}


def test_seed_promql_is_kept_verbatim() -> None:
    spec = load_spec(PREVIEW_SPEC)
    assert spec.alerts[2].expr == "preview_generation_queue_depth > 10"
    assert spec.dashboards[0].panels[0].targets[0].expr == (
        "sum by (scenario) (\n  rate(preview_generation_jobs_total[5m])\n)"
    )


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_every_example_spec_loads(path: object) -> None:
    load_spec(path)  # type: ignore[arg-type]


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "jobpulse.yaml")
    return str(info.value)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "anchor", "expected"),
    [
        ("    help: Jobs that reached", "    hlep: Jobs that reached", "hlep", "unknown key 'hlep'"),
        (
            "type: gauge",
            "type: guage",
            "type: guage",
            "expected 'counter', 'gauge' or 'histogram', got 'guage'",
        ),
        (
            "expr: preview_generation_queue_depth > 10",
            "expr: preview_generation_queue_dept > 10",
            "expr: preview_generation_queue_dept",
            "unknown metric 'preview_generation_queue_dept'",
        ),
        (
            '{outcome="failed"}[10m]',
            '{status="failed"}[10m]',
            "expr: |\n      sum(rate(",
            "unknown label 'status'",
        ),
        (
            '{outcome="failed"}[10m]',
            '{outcome="failure"}[10m]',
            "expr: |\n      sum(rate(",
            "can never match",
        ),
        ("sum by (scenario)", "sum by (scenari)", "expr: |\n          sum by", "unknown label 'scenari'"),
        ("for: 5m", "for: 5 minutes", "for: 5 minutes", "expected a Prometheus duration"),
        (
            "completed: preview_generation_jobs_completed_total",
            "completed: preview_generation_queue_depth",
            "completed: preview_generation_queue_depth",
            "completed must be a counter",
        ),
        (
            "expr: preview_generation_queue_depth > 10",
            "expr: preview_generation_queue_depth >",
            "expr: preview_generation_queue_depth >",
            "invalid PromQL",
        ),
        (
            "alertname: PreviewQueueStalled",
            "alertname: PreviewQueueStaled",
            "alertname: PreviewQueueStaled",
            "unknown alert 'PreviewQueueStaled'",
        ),
    ],
)
def test_errors_name_the_line_and_what_was_expected(old: str, new: str, anchor: str, expected: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    message = _error(text)
    assert expected in message
    line = _line_of(text, anchor)
    assert message.startswith(f"jobpulse.yaml:{line}:"), message
    assert "\n" not in message, "one problem, one line"


def test_unknown_key_suggests_the_closest() -> None:
    message = _error(BASE.replace("    help: Jobs that reached", "    hlep: Jobs that reached"))
    assert "did you mean 'help'?" in message


def test_duplicate_keys_are_errors() -> None:
    text = BASE.replace("    type: counter\n", "    type: counter\n    type: counter\n", 1)
    assert "duplicate key 'type'" in _error(text)


def test_invalid_yaml_has_a_location() -> None:
    message = _error(BASE.replace("  - name: preview\n", "  - name: preview\n   bad: [\n"))
    assert message.startswith("jobpulse.yaml:")
    assert "invalid YAML" in message


def test_wrong_version() -> None:
    message = _error(BASE.replace("jobpulse/v1", "jobpulse/v2"))
    assert message.startswith("jobpulse.yaml:3:10: error: version: expected `version: jobpulse/v1`")


def test_unbounded_label_is_an_error() -> None:
    text = MINIMAL_SPEC.replace("tenant: {max_values: 3}", "tenant: {}")
    assert "a label needs `values` (the allowed set) or `max_values`" in _error(text)


def test_job_metric_with_a_label_the_job_cannot_fill() -> None:
    text = MINIMAL_SPEC.replace("attributes: [queue, tenant]", "attributes: [tenant]")
    message = _error(text)
    assert "jobs_total has labels queue that the job cannot fill" in message


def test_outcome_label_only_on_completion_metrics() -> None:
    old = "    help: Waiting.\n    labels:\n      queue: {values: [default, high]}"
    new = "    help: Waiting.\n    labels:\n      outcome: {values: [ok, error]}"
    assert old in MINIMAL_SPEC
    text = MINIMAL_SPEC.replace(old, new)
    assert "only known when a job finishes" in _error(text)


def test_histogram_in_an_unknown_unit_needs_buckets() -> None:
    text = MINIMAL_SPEC.replace(
        "    unit: seconds\n    help: Job duration.", "    unit: bytes\n    help: Job duration."
    )
    text = text.replace(
        "      outcome: {values: [ok, error]}\n    buckets: [0.1, 1, 10]\n",
        "      outcome: {values: [ok, error]}\n",
        1,
    )
    assert "needs explicit `buckets`" in _error(text)


def test_several_problems_are_all_reported() -> None:
    text = BASE.replace("type: gauge", "type: guage").replace("    help: Jobs that reached", "    hlep: Jobs that")
    message = _error(text)
    assert "guage" in message and "hlep" in message
    assert len(message.splitlines()) >= 2


def test_empty_file() -> None:
    assert "the file is empty" in _error("")


def test_missing_file(tmp_path: object) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(str(tmp_path) + "/nope.yaml")


@pytest.mark.parametrize("empty", ['""', '"   "'])
def test_empty_panel_query_is_a_located_error(empty: str) -> None:
    text = BASE.replace("expr: preview_generation_queue_depth\n", f"expr: {empty}\n")
    message = _error(text)
    assert message.startswith("jobpulse.yaml:")
    assert "dashboards[0].panels[2].expr" in message
