"""The job tracker keeps counters, histograms and gauges consistent through every lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from prometheus_client import CollectorRegistry

from jobpulse import Telemetry
from tests.helpers import MINIMAL_SPEC, PREVIEW_SPEC


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _setup(tmp_path: Path, spec_text: str = MINIMAL_SPEC):  # type: ignore[no-untyped-def]
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(spec_text)
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(spec, registry=registry, strict=True)
    clock = FakeClock()
    return telemetry.job("work", clock=clock), registry, clock


def v(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_full_lifecycle(tmp_path: Path) -> None:
    tracker, r, clock = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="high", tenant="t1")
    assert v(r, "jobs_total", queue="high", tenant="t1") == 1
    assert v(r, "queue_depth", queue="high") == 1
    clock.now += 2
    assert job.start()
    assert v(r, "queue_depth", queue="high") == 0
    assert v(r, "jobs_in_flight") == 1
    assert v(r, "jobs_started_total") == 1
    assert v(r, "job_wait_seconds_sum") == 2
    clock.now += 3
    assert job.succeed()
    assert v(r, "jobs_in_flight") == 0
    assert v(r, "jobs_done_total", queue="high", outcome="ok") == 1
    assert v(r, "job_seconds_sum", outcome="ok") == 5  # enqueue -> completion
    assert v(r, "job_seconds_count", outcome="ok") == 1
    assert tracker.get("j1") is None


def test_an_attempt_is_counted_once(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    assert job.succeed()
    assert not job.succeed()
    assert not job.fail()
    assert not job.start()
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 1
    assert v(r, "jobs_done_total", queue="default", outcome="error") == 0
    assert v(r, "jobs_in_flight") == 0


def test_depth_never_negative(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    job.start()
    job.succeed()
    assert v(r, "queue_depth", queue="default") == 0
    assert tracker.start("j1") is None  # unknown/finished ids are ignored


def test_finishing_a_queued_job_leaves_the_queue(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.fail()
    assert v(r, "queue_depth", queue="default") == 0
    assert v(r, "jobs_in_flight") == 0
    assert v(r, "jobs_done_total", queue="default", outcome="error") == 1


def test_retry_is_a_new_attempt(tmp_path: Path) -> None:
    tracker, r, clock = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    clock.now += 10
    assert job.retry()
    assert v(r, "jobs_retried_total") == 1
    assert v(r, "jobs_total", queue="default", tenant="t") == 2  # retries count as enqueued (the default)
    assert v(r, "queue_depth", queue="default") == 1
    assert v(r, "jobs_in_flight") == 0
    assert job.attempts == 2
    clock.now += 1
    job.start()
    clock.now += 1
    job.succeed()
    assert v(r, "job_seconds_sum", outcome="ok") == 2  # measured from the new attempt's enqueue
    assert not job.retry()  # finished


def test_requeue_of_a_finished_job(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    job.fail()
    job.requeue()
    assert tracker.get("j1") is job
    assert v(r, "jobs_total", queue="default", tenant="t") == 2
    assert v(r, "queue_depth", queue="default") == 1
    job.start()
    job.succeed()
    assert v(r, "jobs_done_total", queue="default", outcome="error") == 1
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 1
    assert v(r, "queue_depth", queue="default") == 0


def test_requeue_of_a_stuck_queued_job_does_not_double_the_depth(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.requeue()
    assert v(r, "queue_depth", queue="default") == 1
    assert v(r, "jobs_total", queue="default", tenant="t") == 2


def test_requeue_of_a_running_job(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    job.requeue()
    assert v(r, "jobs_in_flight") == 0
    assert v(r, "queue_depth", queue="default") == 1


def test_inline_run_records_a_crash_as_failure(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), tracker.run(queue="high", tenant="t"):
        raise RuntimeError("boom")
    assert v(r, "jobs_done_total", queue="high", outcome="error") == 1
    assert v(r, "jobs_in_flight") == 0
    assert v(r, "queue_depth", queue="high") == 0
    with tracker.run(queue="high", tenant="t") as job:
        assert job.state == "running"
    assert v(r, "jobs_done_total", queue="high", outcome="ok") == 1


def test_decorator_sync_and_async(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)

    @tracker.track(queue="default", tenant="t")
    def work(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * 2

    @tracker.track(queue="high", tenant="t")
    async def awork() -> str:
        await asyncio.sleep(0)
        return "done"

    assert work(2) == 4
    with pytest.raises(ValueError, match="negative"):
        work(-1)
    assert asyncio.run(awork()) == "done"
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 1
    assert v(r, "jobs_done_total", queue="default", outcome="error") == 1
    assert v(r, "jobs_done_total", queue="high", outcome="ok") == 1


def test_preview_job_durations_are_recorded_in_milliseconds(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(PREVIEW_SPEC, registry=registry, strict=True)
    clock = FakeClock()
    tracker = telemetry.job("preview", clock=clock)
    job = tracker.enqueue("p1", scenario="blog", backend="worker")
    clock.now += 1.5
    job.start()
    job.succeed()
    assert v(registry, "preview_generation_job_duration_ms_sum", outcome="ready") == pytest.approx(1500)
    assert v(registry, "preview_generation_jobs_completed_total", outcome="ready") == 1
    assert v(registry, "preview_generation_jobs_total", scenario="blog", backend="worker") == 1


def test_wrong_attributes_raise_in_strict_mode(tmp_path: Path) -> None:
    tracker, _, _ = _setup(tmp_path)
    with pytest.raises(ValueError, match="takes attributes"):
        tracker.enqueue("x", queue="default")


def test_out_of_bound_attribute_is_bounded_when_not_strict(tmp_path: Path) -> None:
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(MINIMAL_SPEC)
    registry = CollectorRegistry()
    tracker = Telemetry.from_file(spec, registry=registry).job("work")
    with tracker.run(queue="not-a-queue", tenant="t"):
        pass
    assert v(registry, "jobs_done_total", queue="__other__", outcome="ok") == 1
    assert v(registry, "queue_depth", queue="__other__") == 0


class TrackerMachine(RuleBasedStateMachine):
    """Random sequences of lifecycle calls keep the gauges equal to the true state."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.tracker, self.registry, self.clock = _setup(Path(self.dir.name))
        self.jobs: list[object] = []
        self.finished_attempts = 0

    def teardown(self) -> None:
        self.dir.cleanup()

    @rule(queue=st.sampled_from(["default", "high"]))
    def enqueue(self, queue: str) -> None:
        self.jobs.append(self.tracker.enqueue(None, queue=queue, tenant="t"))

    @precondition(lambda self: self.jobs)
    @rule(i=st.integers(min_value=0), action=st.sampled_from(["start", "succeed", "fail", "retry", "requeue"]))
    def act(self, i: int, action: str) -> None:
        job = self.jobs[i % len(self.jobs)]
        self.clock.now += 1
        result = getattr(job, action)()
        if action in ("succeed", "fail") and result:
            self.finished_attempts += 1

    @invariant()
    def gauges_match_state(self) -> None:
        states = [j.state for j in self.jobs]  # type: ignore[attr-defined]
        depth = v(self.registry, "queue_depth", queue="default") + v(self.registry, "queue_depth", queue="high")
        assert depth == states.count("queued")
        assert v(self.registry, "jobs_in_flight") == states.count("running")
        done = sum(
            v(self.registry, "jobs_done_total", queue=q, outcome=o)
            for q in ("default", "high")
            for o in ("ok", "error")
        )
        assert done == self.finished_attempts
        assert self.tracker.live == states.count("queued") + states.count("running")


TestTrackerMachine = TrackerMachine.TestCase
TestTrackerMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_a_job_runs_under_the_request_context_it_was_enqueued_in(tmp_path: Path) -> None:
    """A job enqueued during a request logs that request's trace id in the worker, with its own job id."""
    import threading

    from jobpulse.runtime import context

    tracker, _, _ = _setup(tmp_path)
    with context.use(None) as request:
        job = tracker.enqueue("j-ctx", queue="default", tenant="t")
    assert context.current() is None
    seen: dict[str, object] = {}

    def worker() -> None:
        assert context.current() is None  # a worker thread starts without the request's context
        job.start()
        running = context.current()
        seen["trace_id"] = running.trace_id if running else None
        seen["job_id"] = running.job_id if running else None
        seen["span_id"] = running.span_id if running else None
        job.succeed()
        seen["after"] = context.current()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["trace_id"] == request.trace_id
    assert seen["job_id"] == "j-ctx"
    assert seen["span_id"] != request.span_id  # the job is its own span in the request's trace
    assert seen["after"] is None


def test_jobs_enqueued_outside_a_request_leave_the_context_alone(tmp_path: Path) -> None:
    from jobpulse.runtime import context

    tracker, _, _ = _setup(tmp_path)
    with tracker.run(queue="default", tenant="t"):
        assert context.current() is None


def test_the_result_of_a_superseded_attempt_is_ignored(tmp_path: Path) -> None:
    tracker, r, _ = _setup(tmp_path)
    job = tracker.enqueue("j1", queue="default", tenant="t")
    job.start()
    first = job.attempts
    job.requeue()  # e.g. a refresh endpoint while the first attempt still runs
    assert not job.succeed(attempt=first)  # the old attempt's worker finishing late
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 0
    job.start()
    assert job.succeed(attempt=job.attempts)
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 1
    assert not job.fail(attempt=first)


from hypothesis import given as _given  # noqa: E402


@settings(max_examples=200, deadline=None)
@_given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, 100.0, 250.0, 300000.0, 1200000.0, -1.0]),
        ),
        max_size=30,
    )
)
def test_fast_histogram_updates_match_prometheus_client(values: list[float]) -> None:
    """The tracker's direct histogram update gives exactly what Histogram.observe gives."""
    from prometheus_client import Histogram

    from jobpulse.runtime._client_internals import observer

    buckets = (100, 250, 500, 1000, 300000, 1200000)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = observer(Histogram("h", "h", ["o"], buckets=buckets, registry=ours).labels("x"))
    reference = Histogram("h", "h", ["o"], buckets=buckets, registry=theirs).labels("x")
    assert fast is not None
    for value in values:
        fast(value)
        reference.observe(value)

    def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], str]]:
        return [
            (s.name, s.labels, repr(s.value)) for m in registry.collect() for s in m.samples if "created" not in s.name
        ]

    assert samples(ours) == samples(theirs)


def test_fast_counter_and_gauge_updates_match_prometheus_client() -> None:
    from prometheus_client import Counter, Gauge

    from jobpulse.runtime._client_internals import adder

    registry = CollectorRegistry()
    counter = Counter("c", "c", ["o"], registry=registry).labels("x")
    gauge = Gauge("g", "g", ["o"], registry=registry).labels("x")
    add_c, add_g = adder(counter), adder(gauge)
    assert add_c is not None and add_g is not None
    add_c(1)
    add_c(1)
    add_g(1)
    add_g(-1)
    add_g(-1)
    assert registry.get_sample_value("c_total", {"o": "x"}) == 2
    assert registry.get_sample_value("g", {"o": "x"}) == -1
    most_recent = Gauge("m", "m", registry=registry, multiprocess_mode="mostrecent")
    fallback = adder(most_recent)
    assert fallback is not None
    with pytest.raises(RuntimeError, match="mostrecent"):
        fallback(1)  # the public method's own check still applies where it can fire


def test_finishing_an_old_job_keeps_a_newer_job_with_the_same_id(tmp_path: Path) -> None:
    tracker, _, _ = _setup(tmp_path)
    old = tracker.enqueue("same", queue="default", tenant="t")
    new = tracker.enqueue("same", queue="default", tenant="t")  # the caller reused an id
    assert tracker.get("same") is new
    old.fail()
    assert tracker.get("same") is new
    new.start()
    new.succeed()
    assert tracker.get("same") is None


# -- the live-job table is bounded (issue 18) ----------------------------------------------------------------
def _bounded(tmp_path: Path, **options: object):  # type: ignore[no-untyped-def]
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(MINIMAL_SPEC)
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(spec, registry=registry, strict=True)
    clock = FakeClock()
    return telemetry.job("work", clock=clock, **options), registry, clock


def test_unfinished_jobs_are_evicted_oldest_first_and_counted(tmp_path: Path) -> None:
    tracker, r, _ = _bounded(tmp_path, max_live=1_000)
    jobs = [tracker.enqueue(f"j{i}", queue="default", tenant="t") for i in range(5_000)]
    for job in jobs[-10:]:
        job.start()
    assert tracker.live == 1_000
    assert tracker.get("j0") is None and tracker.get("j3999") is None
    assert tracker.get("j4000") is jobs[4000] and tracker.get("j4999") is jobs[4999]
    assert v(r, "jobpulse_tracker_evicted_jobs_total", job="work") == 4_000
    # an evicted job no longer counts as waiting: the gauges follow the table
    assert v(r, "queue_depth", queue="default") == 990
    assert v(r, "jobs_in_flight") == 10


def test_an_evicted_job_that_finishes_later_is_counted_once(tmp_path: Path) -> None:
    tracker, r, _ = _bounded(tmp_path, max_live=2)
    first = tracker.enqueue("a", queue="high", tenant="t")
    first.start()
    tracker.enqueue("b", queue="high", tenant="t")
    tracker.enqueue("c", queue="high", tenant="t")  # evicts "a" while it runs
    assert tracker.get("a") is None
    assert v(r, "jobs_in_flight") == 0
    assert first.succeed()  # the worker still holds the job: its outcome is recorded, the gauge not touched twice
    assert v(r, "jobs_done_total", queue="high", outcome="ok") == 1
    assert v(r, "job_seconds_count", outcome="ok") == 1
    assert v(r, "jobs_in_flight") == 0
    assert v(r, "queue_depth", queue="high") == 2
    first.requeue()  # back in the table, counted again
    assert tracker.get("a") is first
    assert v(r, "queue_depth", queue="high") == 2  # "b" was evicted to make room


def test_jobs_idle_longer_than_max_age_are_evicted(tmp_path: Path) -> None:
    tracker, r, clock = _bounded(tmp_path, max_age=600)
    tracker.enqueue("old", queue="default", tenant="t")
    running = tracker.enqueue("running", queue="default", tenant="t")
    clock.now += 500
    running.start()
    clock.now += 200
    tracker.enqueue("new", queue="default", tenant="t")
    assert tracker.get("old") is None  # queued 700 s ago
    assert tracker.get("running") is running  # started 200 s ago
    assert tracker.get("new") is not None
    assert v(r, "jobpulse_tracker_evicted_jobs_total", job="work") == 1
    assert v(r, "queue_depth", queue="default") == 1


def test_the_default_bound_holds_memory(tmp_path: Path) -> None:
    """200,000 jobs that never finish took +222 MB before; past a bound of 5,000 the table stays put."""
    import tracemalloc

    tracker, r, _ = _bounded(tmp_path, max_live=5_000)
    for _ in range(5_000):
        tracker.enqueue(None, "default", "t")
    tracemalloc.start()
    try:
        for _ in range(100_000):
            tracker.enqueue(None, "default", "t")
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tracker.live == 5_000
    assert current < 10e6  # unbounded, the 100,000 more jobs held ~110 MB (the table's dict slack: ~2 MB)
    assert v(r, "jobpulse_tracker_evicted_jobs_total", job="work") == 100_000


def test_eviction_while_other_threads_finish_jobs_never_raises(tmp_path: Path) -> None:
    """Threads enqueue and finish jobs while each enqueue evicts the oldest: a job finished (and removed) by one
    thread between another's two reads of the table must not raise KeyError into either."""
    import sys
    import threading

    tracker, r, _ = _bounded(tmp_path, max_live=20)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10_000):
                job = tracker.enqueue(f"{n}-{i}", queue="default", tenant="t")
                if i % 3:
                    job.start()
                    job.succeed()
        except BaseException as exc:  # reported below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    tracker.enqueue("last", queue="default", tenant="t")
    assert tracker.live <= 20
    assert v(r, "jobs_done_total", queue="default", outcome="ok") == 4 * 6_666
    assert v(r, "jobpulse_tracker_evicted_jobs_total", job="work") >= 4 * 3_334 - 21


def test_a_bound_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_live"):
        _bounded(tmp_path, max_live=0)
    with pytest.raises(ValueError, match="max_age"):
        _bounded(tmp_path, max_age=0)
