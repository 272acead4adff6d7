"""Bounded, validated, cached labels on the spec's catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from jobpulse import LabelError, Telemetry
from tests.helpers import PREVIEW_SPEC, write_spec


def _telemetry(tmp_path: Path, strict: bool = False) -> tuple[Telemetry, CollectorRegistry]:
    registry = CollectorRegistry()
    return Telemetry.from_file(write_spec(tmp_path), registry=registry, strict=strict), registry


def test_from_file_registers_every_catalogue_metric() -> None:
    registry = CollectorRegistry()
    Telemetry.from_file(PREVIEW_SPEC, registry=registry)
    names = {m.name for m in registry.collect()}
    assert {
        "preview_generation_jobs",
        "preview_generation_jobs_completed",
        "preview_generation_job_duration_ms",
        "preview_generation_queue_depth",
        "jobpulse_label_overflow",
    } <= names


def test_histogram_uses_the_spec_buckets() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(PREVIEW_SPEC, registry=registry)
    telemetry.metric("preview_generation_job_duration_ms").observe(1500, outcome="ready")
    assert (
        registry.get_sample_value("preview_generation_job_duration_ms_bucket", {"outcome": "ready", "le": "2500.0"})
        == 1.0
    )
    assert (
        registry.get_sample_value("preview_generation_job_duration_ms_bucket", {"outcome": "ready", "le": "1000.0"})
        == 0.0
    )


def test_value_outside_the_allowed_set_becomes_other_and_is_counted(tmp_path: Path) -> None:
    telemetry, registry = _telemetry(tmp_path)
    queue_depth = telemetry.metric("queue_depth")
    queue_depth.inc(queue="default")
    queue_depth.inc(queue="evil\r\nvalue")
    queue_depth.inc(queue="another")
    assert registry.get_sample_value("queue_depth", {"queue": "default"}) == 1
    assert registry.get_sample_value("queue_depth", {"queue": "__other__"}) == 2
    assert registry.get_sample_value("jobpulse_label_overflow_total", {"metric": "queue_depth", "label": "queue"}) == 2


def test_distinct_value_budget(tmp_path: Path) -> None:
    telemetry, registry = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    for tenant in ["a", "b", "c", "d", "e", "a"]:
        jobs.inc(queue="default", tenant=tenant)
    values = {
        s.labels["tenant"]: s.value
        for m in registry.collect()
        if m.name == "jobs"
        for s in m.samples
        if s.name == "jobs_total"
    }
    assert values == {"a": 2, "b": 1, "c": 1, "__other__": 2}
    assert registry.get_sample_value("jobpulse_label_overflow_total", {"metric": "jobs_total", "label": "tenant"}) == 2


def test_many_hostile_values_stay_bounded(tmp_path: Path) -> None:
    telemetry, registry = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    for i in range(5000):
        jobs.inc(queue=f"q{i}", tenant=f"user-{i}@example.com")
    series = [s for m in registry.collect() if m.name == "jobs" for s in m.samples if s.name == "jobs_total"]
    assert len(series) <= 3 * 1 + 1  # 3 tenants in budget x __other__ queue, plus __other__ tenant
    assert len(jobs._children) <= 3  # overflowing values are never cached


def test_strict_mode_raises_on_overflow(tmp_path: Path) -> None:
    telemetry, _ = _telemetry(tmp_path, strict=True)
    with pytest.raises(LabelError, match="outside the bound of label 'queue'"):
        telemetry.metric("queue_depth").inc(queue="nope")


def test_wrong_label_names_raise_in_strict_mode(tmp_path: Path) -> None:
    telemetry, _ = _telemetry(tmp_path, strict=True)
    with pytest.raises(LabelError, match="missing queue; unexpected qeue"):
        telemetry.metric("queue_depth").inc(qeue="default")


def test_wrong_label_names_are_counted_not_raised_by_default(tmp_path: Path) -> None:
    telemetry, registry = _telemetry(tmp_path)
    telemetry.metric("queue_depth").inc(qeue="default")
    assert registry.get_sample_value("jobpulse_label_errors_total", {"metric": "queue_depth"}) == 1


def test_children_are_cached(tmp_path: Path) -> None:
    telemetry, _ = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    first = jobs.labels(queue="high", tenant="a")
    assert jobs.labels(tenant="a", queue="high") is first
    assert jobs.child(("high", "a")) is first


def test_unknown_metric_name(tmp_path: Path) -> None:
    telemetry, _ = _telemetry(tmp_path)
    with pytest.raises(KeyError, match="not in the spec's metric catalogue"):
        telemetry.metric("nope")


def test_unlabelled_metric(tmp_path: Path) -> None:
    telemetry, registry = _telemetry(tmp_path)
    telemetry.metric("jobs_in_flight").set(3)
    assert registry.get_sample_value("jobs_in_flight") == 3


# -- hostile values: NaN, unhashable, values whose str() fails (issue 18) ----------------------------------------
class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


class BadHash:
    def __hash__(self) -> int:
        raise ValueError("no hash")


def test_nan_values_do_not_grow_the_caches(tmp_path: Path) -> None:
    """NaN is never equal to itself, so a cache keyed by the raw value missed and grew on every call."""
    telemetry, registry = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    tracker = telemetry.job("work")
    for _ in range(10_000):
        jobs.inc(queue="default", tenant=float("nan"))
        tracker.enqueue(None, "default", float("nan")).succeed()
    assert len(jobs._children) <= 3 and len(jobs._other_children) <= 3
    assert len(tracker._bindings) <= 1 and len(tracker._shared_bindings) <= 1
    assert registry.get_sample_value("jobs_total", {"queue": "default", "tenant": "nan"}) == 20_000


def test_values_equal_in_python_keep_their_own_text(tmp_path: Path) -> None:
    """1 == 1.0 == True in Python; as label values they are "1", "1.0" and "True"."""
    telemetry, registry = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    for value in (1, 1.0, True):
        jobs.inc(queue="default", tenant=value)
    for text in ("1", "1.0", "True"):
        assert registry.get_sample_value("jobs_total", {"queue": "default", "tenant": text}) == 1


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, {1}, bytearray(b"x"), ([1],), Unprintable(), BadHash()])
def test_unusable_values_count_as_overflow_and_never_raise(tmp_path: Path, value: object) -> None:
    telemetry, registry = _telemetry(tmp_path)
    jobs = telemetry.metric("jobs_total")
    jobs.inc(queue="default", tenant=value)
    jobs.labels(queue=value, tenant="a").inc()
    jobs.child(("default", value)).inc()
    telemetry.metric("queue_depth").set(3, queue=value)
    tracker = telemetry.job("work")
    tracker.enqueue(None, "default", value).succeed()
    tracker.enqueue(None, queue=value, tenant="a").succeed()
    tracker.enqueue_shared(None, "default", value)
    tracker.adopt(None, value, "a").succeed()
    assert registry.get_sample_value("jobs_total", {"queue": "default", "tenant": "__other__"}) == 4
    assert registry.get_sample_value("queue_depth", {"queue": "__other__"}) == 3
    assert registry.get_sample_value("jobpulse_label_overflow_total", {"metric": "jobs_total", "label": "tenant"}) >= 4


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, Unprintable()])
def test_unusable_values_raise_in_strict_mode(tmp_path: Path, value: object) -> None:
    telemetry, _ = _telemetry(tmp_path, strict=True)
    with pytest.raises(LabelError, match="label 'tenant'"):
        telemetry.metric("jobs_total").inc(queue="default", tenant=value)
    with pytest.raises(LabelError, match="label 'tenant'"):
        telemetry.job("work").enqueue(None, "default", value)
