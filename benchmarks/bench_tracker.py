"""One preview job's full lifecycle through the JobTracker vs. hand-written prometheus_client code.

The operation is: a job is enqueued (jobs_total{scenario,backend} +1, queue_depth{backend} +1), starts
(queue_depth -1) and succeeds (jobs_completed_total{outcome="ready"} +1, job_duration_ms{outcome="ready"}
observes the milliseconds since enqueue). Every variant updates the same four metrics of
``examples/preview_jobs/jobpulse.yaml`` in its own fresh registry.

The baseline is what a careful user writes by hand: children bound once with ``.labels()`` and kept,
``time.time()`` read at enqueue and at completion. The tracker is given the job id by the caller (the
baseline has no ids to make); a generated id (``uuid4().hex``) is measured separately.
"""

from __future__ import annotations

import time
from pathlib import Path

from _harness import Bench, Section, Variant, loop_op, main, measure, settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from jobpulse.runtime.metrics import Telemetry
from jobpulse.runtime.tracker import JobTracker
from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Spec

SPEC_PATH = Path(__file__).resolve().parents[1] / "examples" / "preview_jobs" / "jobpulse.yaml"
SCENARIO = "thumbnail"
BACKEND = "worker"
TARGET = 1.3  # the tracker may cost at most this much of the hand-written bound-children code


def _raw_metrics(spec: Spec) -> tuple[Counter, Counter, Histogram, Gauge]:
    """The spec's four preview metrics as plain prometheus_client collectors in a fresh registry."""
    registry = CollectorRegistry()
    m = spec.metrics
    jobs = m["preview_generation_jobs_total"]
    completed = m["preview_generation_jobs_completed_total"]
    duration = m["preview_generation_job_duration_ms"]
    depth = m["preview_generation_queue_depth"]
    return (
        Counter(jobs.name, jobs.help, jobs.label_names, registry=registry),
        Counter(completed.name, completed.help, completed.label_names, registry=registry),
        Histogram(
            duration.name,
            duration.help,
            duration.label_names,
            buckets=duration.buckets or (),
            registry=registry,
        ),
        Gauge(depth.name, depth.help, depth.label_names, registry=registry),
    )


def hand_bound(spec: Spec) -> Variant:
    def make() -> Bench:
        jobs, completed, duration, depth = _raw_metrics(spec)
        created = jobs.labels(SCENARIO, BACKEND)
        queued = depth.labels(BACKEND)
        ready = completed.labels("ready")
        ready_ms = duration.labels("ready")
        now = time.time

        def lifecycle() -> None:
            # enqueue
            created.inc()
            queued.inc()
            t0 = now()
            # start
            queued.dec()
            # succeed
            ready.inc()
            ready_ms.observe((now() - t0) * 1000.0)

        return loop_op(lifecycle)

    return Variant("hand-written, pre-bound children", make, baseline=True)


def hand_labels(spec: Spec) -> Variant:
    def make() -> Bench:
        jobs, completed, duration, depth = _raw_metrics(spec)

        def lifecycle() -> None:
            jobs.labels(scenario=SCENARIO, backend=BACKEND).inc()
            depth.labels(backend=BACKEND).inc()
            t0 = time.time()
            depth.labels(backend=BACKEND).dec()
            completed.labels(outcome="ready").inc()
            duration.labels(outcome="ready").observe((time.time() - t0) * 1000.0)

        return loop_op(lifecycle)

    return Variant("hand-written, .labels(**kw) on every update", make)


def _tracker(spec: Spec) -> JobTracker:
    return Telemetry(spec, registry=CollectorRegistry()).job("preview")


def tracker_explicit(spec: Spec) -> Variant:
    def make() -> Bench:
        tracker = _tracker(spec)

        def lifecycle() -> None:
            job = tracker.enqueue("job-1", scenario=SCENARIO, backend=BACKEND)
            job.start()
            job.succeed()

        return loop_op(lifecycle)

    return Variant("tracker: enqueue(id) → start() → succeed()", make)


def tracker_positional(spec: Spec) -> Variant:
    def make() -> Bench:
        tracker = _tracker(spec)

        def lifecycle() -> None:
            job = tracker.enqueue("job-1", SCENARIO, BACKEND)
            job.start()
            job.succeed()

        return loop_op(lifecycle)

    return Variant("tracker: enqueue(id, scenario, backend) positional", make)


def tracker_uuid(spec: Spec) -> Variant:
    def make() -> Bench:
        tracker = _tracker(spec)

        def lifecycle() -> None:
            job = tracker.enqueue(scenario=SCENARIO, backend=BACKEND)
            job.start()
            job.succeed()

        return loop_op(lifecycle)

    return Variant("tracker: enqueue() with generated id", make)


def tracker_with(spec: Spec) -> Variant:
    def make() -> Bench:
        tracker = _tracker(spec)

        def lifecycle() -> None:
            with tracker.run("job-1", scenario=SCENARIO, backend=BACKEND):
                pass

        return loop_op(lifecycle)

    return Variant("tracker: with tracker.run(id)", make)


def tracker_decorator(spec: Spec) -> Variant:
    def make() -> Bench:
        tracker = _tracker(spec)

        @tracker.track(scenario=SCENARIO, backend=BACKEND)
        def lifecycle() -> None:
            pass

        return loop_op(lifecycle)

    return Variant("tracker: @tracker.track function (generated id)", make)


def run(quick: bool = False) -> Section:
    """Job lifecycle: JobTracker vs. hand-written prometheus_client code."""
    spec = load_spec(SPEC_PATH)
    variants = [
        hand_bound(spec),
        tracker_explicit(spec),
        tracker_positional(spec),
        tracker_with(spec),
        tracker_uuid(spec),
        tracker_decorator(spec),
        hand_labels(spec),
    ]
    results = measure(variants, **settings(quick))
    by_name = {r.name: r for r in results}
    base = by_name[variants[0].name]
    explicit = by_name[variants[1].name]
    inline = by_name[variants[2].name]
    generated = by_name[variants[3].name]
    labels = by_name[variants[5].name]
    verdict = "meets" if explicit.ratio <= TARGET else "misses"
    reading = (
        f"One lifecycle with pre-bound children by hand takes {base.ns_per_op:,.0f} ns; through the tracker "
        f"with a caller-supplied id it takes {explicit.ns_per_op:,.0f} ns, {explicit.ratio:.2f}× the "
        f"hand-written code, which {verdict} the {TARGET}× target. The tracker's extra "
        f"{explicit.ns_per_op - base.ns_per_op:,.0f} ns buy a Job object (id, attributes, state, start time), "
        f"the live-job table, one more clock read at start, and the once-only checks. `with tracker.run(...)` "
        f"costs {inline.ratio:.2f}× (the generator-based context manager adds "
        f"{inline.ns_per_op - explicit.ns_per_op:,.0f} ns), and letting the tracker generate the id "
        f"(`uuid4().hex`) adds {generated.ns_per_op - explicit.ns_per_op:,.0f} ns. Hand-written code that "
        f"calls `.labels(...)` on every update, as most code does, takes {labels.ns_per_op:,.0f} ns "
        f"({labels.ratio:.2f}× the baseline), slower than the tracker."
    )
    return Section(
        key="tracker",
        title="Job tracker: one lifecycle (enqueue → start → succeed)",
        intro=__doc__.split("\n\n", 1)[1].replace("\n", " ").strip() if __doc__ else "",
        results=[results],
        captions=["One full job lifecycle, 4 metrics updated (5 updates)"],
        reading=reading,
    )


if __name__ == "__main__":
    main(run)
