"""One preview job's full lifecycle through the JobTracker vs. hand-written prometheus_client code.

The operation is: a job is enqueued (jobs_total{scenario,backend} +1, queue_depth{backend} +1), starts
(queue_depth -1) and succeeds (jobs_completed_total{outcome="ready"} +1, job_duration_ms{outcome="ready"}
observes the milliseconds since enqueue). Every variant updates the same four metrics of
``examples/preview_jobs/jobpulse.yaml`` in its own fresh registry.

The baseline is what a careful user writes by hand: children bound once with ``.labels()`` and kept,
``time.time()`` read at enqueue and at completion. The tracker is given the job id by the caller (the
baseline has no ids to make); a generated id (random, formatted like ``uuid4().hex``) is measured
separately.
"""

from __future__ import annotations

import time
from pathlib import Path

from _harness import Bench, Section, Variant, intro, loop_op, main, measure, settings
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


def hand_table(spec: Spec) -> Variant:
    def make() -> Bench:
        jobs, completed, duration, depth = _raw_metrics(spec)
        created = jobs.labels(SCENARIO, BACKEND)
        queued = depth.labels(BACKEND)
        ready = completed.labels("ready")
        ready_ms = duration.labels("ready")
        now = time.time
        enqueued_at: dict[str, float] = {}

        def lifecycle() -> None:
            created.inc()
            queued.inc()
            enqueued_at["job-1"] = now()
            queued.dec()
            t0 = enqueued_at.pop("job-1")
            ready.inc()
            ready_ms.observe((now() - t0) * 1000.0)

        return loop_op(lifecycle)

    return Variant("hand-written, pre-bound children + enqueue times by job id", make)


class _Record:
    """What any job tracking keeps per job: id, state, times, attempts, attributes, its children."""

    __slots__ = ("attempts", "attributes", "children", "enqueued_at", "id", "started_at", "state", "tracker")
    attempts: int
    attributes: dict[str, str] | None
    children: object
    enqueued_at: float
    id: str
    started_at: float | None
    state: str
    tracker: object


def hand_record(spec: Spec) -> Variant:
    def make() -> Bench:
        jobs, completed, duration, depth = _raw_metrics(spec)
        created = jobs.labels(SCENARIO, BACKEND)
        queued = depth.labels(BACKEND)
        ready = completed.labels("ready")
        ready_ms = duration.labels("ready")
        now = time.time
        live: dict[str, _Record] = {}
        new = object.__new__

        def lifecycle() -> None:
            job = new(_Record)
            job.tracker = None
            job.children = None
            job.id = "job-1"
            job.attributes = None
            job.state = "queued"
            job.enqueued_at = now()
            job.started_at = None
            job.attempts = 1
            created.inc()
            queued.inc()
            live["job-1"] = job
            job.state = "running"
            job.started_at = now()
            queued.dec()
            job.state = "succeeded"
            ready.inc()
            ready_ms.observe((now() - job.enqueued_at) * 1000.0)
            live.pop("job-1", None)

        return loop_op(lifecycle)

    return Variant("+ a job object (8 fields) in a live table by id, 3 clock reads, inline", make)


def hand_minimal(spec: Spec) -> Variant:
    def make() -> Bench:
        jobs, completed, duration, depth = _raw_metrics(spec)
        created = jobs.labels(SCENARIO, BACKEND)
        queued = depth.labels(BACKEND)
        ready = completed.labels("ready")
        ready_ms = duration.labels("ready")
        now = time.time
        live: dict[str, MinimalJob] = {}
        new = object.__new__

        class MinimalJob(_Record):
            __slots__ = ()

            def start(self) -> None:
                self.state = "running"
                self.started_at = now()
                queued.dec()

            def succeed(self) -> None:
                self.state = "succeeded"
                ready.inc()
                ready_ms.observe((now() - self.enqueued_at) * 1000.0)
                live.pop(self.id, None)

        class MinimalTracker:
            def enqueue(self, job_id: str, scenario: str, backend: str) -> MinimalJob:
                job = new(MinimalJob)
                job.tracker = self
                job.children = None
                job.id = job_id
                job.attributes = None
                job.state = "queued"
                job.enqueued_at = now()
                job.started_at = None
                job.attempts = 1
                created.inc()
                queued.inc()
                live[job_id] = job
                return job

        tracker = MinimalTracker()

        def lifecycle() -> None:
            job = tracker.enqueue("job-1", SCENARIO, BACKEND)
            job.start()
            job.succeed()

        return loop_op(lifecycle)

    return Variant("+ as three method calls (enqueue/start/succeed; one fixed binding, no checks)", make)


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
        hand_table(spec),
        hand_labels(spec),
    ]
    results = measure(variants, **settings(quick))
    by_name = {r.name: r for r in results}
    base = by_name[variants[0].name]
    explicit = by_name[variants[1].name]
    inline = by_name[variants[3].name]
    generated = by_name[variants[4].name]
    positional = by_name[variants[2].name]
    table = by_name[variants[6].name]
    labels = by_name[variants[7].name]

    anatomy = measure(
        [hand_bound(spec), hand_record(spec), hand_minimal(spec), tracker_positional(spec), tracker_explicit(spec)],
        **settings(quick),
    )
    _, record, minimal, a_pos, a_kw = anatomy

    def verdict(ratio: float) -> str:
        return "within" if ratio <= TARGET else "above"

    slower_than_all = all(labels.ns_per_op > r.ns_per_op for r in results if r.name.startswith("tracker"))
    reading = (
        f"By hand, with children bound once, one lifecycle takes {base.ns_per_op:,.0f} ns. Through the "
        f"tracker, naming the attributes (`enqueue(id, scenario=…, backend=…)`), it takes "
        f"{explicit.ns_per_op:,.0f} ns, {explicit.ratio:.2f}× — {verdict(explicit.ratio)} the {TARGET}× "
        f'target; passing them by position in the spec\'s order (`enqueue(id, "thumbnail", "worker")`) '
        f"takes {positional.ns_per_op:,.0f} ns, {positional.ratio:.2f}× ({verdict(positional.ratio)}). Every "
        f"variant makes the same five metric updates with the same results, but the tracker makes them one "
        f"layer lower: it calls each bound child's value directly (`_value.inc`, and for the histogram a "
        f"binary search over the buckets), skipping prometheus_client's per-call checks, which cannot fail "
        f"for a bound child and ±1 amounts. That saving pays for what a tracker is: a Job object per job "
        f"(id, state, attempt count, enqueue and start times), a table "
        f"of live jobs so that `tracker.start(id)` and `get(id)` work, a third clock read (the start time), "
        f"three method calls instead of inline code, and the state checks that count each attempt once and "
        f"keep the queue depth from going negative. Hand-written code that keeps only the enqueue time per "
        f"job id takes {table.ns_per_op:,.0f} ns ({table.ratio:.2f}×). Naming the attributes rather than "
        f"passing them by position costs {explicit.ns_per_op - positional.ns_per_op:+,.0f} ns (the keyword "
        f"dict, and mapping names to the spec's order). `with tracker.run(...)` costs "
        f"{inline.ratio:.2f}×, and a generated id {generated.ns_per_op - explicit.ns_per_op:+,.0f} ns "
        f"(one `new_job_id()`: 16 bytes from `os.urandom`, formatted like `uuid4().hex`; the benchmark "
        f"supplies ids because the baseline has none to make). "
        f"Hand-written code calling `.labels(...)` on every update, as most code does, takes "
        f"{labels.ns_per_op:,.0f} ns ({labels.ratio:.2f}×)"
        + (", slower than every tracker variant." if slower_than_all else ".")
        + f" The second table takes the difference apart, cumulatively: keeping a job object in a live "
        f"table with three clock reads costs {record.ratio:.2f}× the baseline, making that three method "
        f"calls {minimal.ratio:.2f}× (these steps use the public prometheus_client methods); the tracker, "
        f"with its generality — finding the children for the attribute values, skipping the lifecycle "
        f"metrics a spec does not bind, the state checks — but direct value updates, lands at "
        f"{a_pos.ratio:.2f}× (positional) and {a_kw.ratio:.2f}× (by name)."
    )
    return Section(
        key="tracker",
        title="Job tracker: one lifecycle (enqueue → start → succeed)",
        intro=intro(__doc__),
        results=[results, anatomy],
        captions=[
            "One full job lifecycle, 4 metrics updated (5 updates)",
            "Where the difference goes: hand-written steps from the baseline towards a tracker (cumulative)",
        ],
        reading=reading,
    )


if __name__ == "__main__":
    main(run)
