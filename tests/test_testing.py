"""jobpulse.testing: fresh-registry telemetry, sample lookups, alert assertions through promtool."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from jobpulse import LabelError, Telemetry
from jobpulse.testing import (
    assert_alert_fires,
    assert_alert_silent,
    family,
    fresh_telemetry,
    sample,
    samples,
    total,
)

PREVIEW = Path(__file__).resolve().parents[1] / "examples" / "preview_jobs" / "jobpulse.yaml"
STALLED = {'preview_generation_queue_depth{backend="worker"}': "2 4 8 12 15 18 20 22 25 25"}


def test_fresh_telemetry_has_its_own_registry_and_is_strict() -> None:
    first, second = fresh_telemetry(PREVIEW), fresh_telemetry(PREVIEW)
    assert isinstance(first.registry, CollectorRegistry) and first.registry is not second.registry
    first.job("preview").enqueue(None, scenario="blog-post", backend="worker")
    assert total(first, "preview_generation_jobs_total") == 1
    assert total(second, "preview_generation_jobs_total") == 0
    with pytest.raises(LabelError, match="backend"):
        first.metric("preview_generation_jobs_total").inc(scenario="x", backend="kafka")
    lenient = fresh_telemetry(PREVIEW, strict=False)
    lenient.metric("preview_generation_jobs_total").inc(scenario="x", backend="kafka")
    assert sample(lenient, "preview_generation_jobs_total", scenario="x", backend="__other__") == 1


def test_samples_are_read_by_name_and_labels() -> None:
    telemetry = fresh_telemetry(PREVIEW)
    previews = telemetry.job("preview")
    for scenario, fails in (("blog-post", False), ("blog-post", True), ("docs", True)):
        job = previews.enqueue(None, scenario=scenario, backend="worker")
        job.start()
        job.fail() if fails else job.succeed()
    # exact labels, as prometheus_client's get_sample_value; None when absent
    assert sample(telemetry, "preview_generation_jobs_total", scenario="docs", backend="worker") == 1
    assert sample(telemetry, "preview_generation_jobs_total", scenario="docs") is None
    assert sample(telemetry.registry, "preview_generation_jobs_total", scenario="nope", backend="worker") is None
    # labels given must match, the others may be anything
    assert total(telemetry, "preview_generation_jobs_completed_total", outcome="failed") == 2
    assert total(telemetry, "preview_generation_jobs_completed_total") == 3
    assert total(telemetry, "preview_generation_jobs_completed_total", outcome="nope") == 0
    found = samples(telemetry, "preview_generation_job_duration_ms_count")
    assert sorted((s.labels["outcome"], s.value) for s in found) == [("failed", 2.0), ("ready", 1.0)]
    counter = family(telemetry, "preview_generation_jobs_total")
    assert counter is not None and counter.type == "counter" and counter.name == "preview_generation_jobs"
    by_family_name = family(telemetry, "preview_generation_jobs")
    assert by_family_name is not None and by_family_name.samples == counter.samples
    assert family(telemetry, "no_such_metric") is None


def test_a_telemetry_without_a_registry_is_refused() -> None:
    telemetry = Telemetry.from_file(PREVIEW, registry=None)
    with pytest.raises(ValueError, match="registry=None"):
        total(telemetry, "preview_generation_jobs_total")


@pytest.mark.integration
def test_alert_assertions_pass_and_fail(promtool: str) -> None:
    assert_alert_fires(PREVIEW, "PreviewQueueStalled", series=STALLED, at="9m", promtool=promtool)
    assert_alert_fires(PREVIEW, "PreviewQueueStalled", series=STALLED, at="9m", labels={"backend": "worker"})
    assert_alert_silent(PREVIEW, "PreviewQueueStalled", series=STALLED, at="4m", promtool=promtool)
    assert_alert_silent(PREVIEW, "PreviewQueueStalled", series=STALLED, at="9m", labels={"backend": "rq"})
    with pytest.raises(AssertionError, match=r"expected PreviewQueueStalled to fire at 4m; promtool says:"):
        assert_alert_fires(PREVIEW, "PreviewQueueStalled", series=STALLED, at="4m", promtool=promtool)
    with pytest.raises(AssertionError, match=r"PreviewQueueStalled\{backend='worker'\} to stay silent at 9m"):
        assert_alert_silent(PREVIEW, "PreviewQueueStalled", series=STALLED, at="9m", labels={"backend": "worker"})


def test_an_alert_the_spec_does_not_have_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match=r"no alert 'PreviewQueueStaled'; they have .*PreviewQueueStalled"):
        assert_alert_fires(PREVIEW, "PreviewQueueStaled", series=STALLED, at="9m")
    with pytest.raises(ValueError, match="not a label name"):
        assert_alert_fires(PREVIEW, "PreviewQueueStalled", series=STALLED, at="9m", labels={"bad-name": "x"})
