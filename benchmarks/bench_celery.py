"""Per-task cost of Celery instrumentation: jobpulse's signal handlers next to OpenTelemetry's.

One Celery app with a no-op task, in one process, on kombu's in-memory transport (no network). Two
operations: *run* is ``task.apply()`` — Celery's eager path through its task tracer, which sends
``task_prerun``, ``task_success`` and ``task_postrun`` like a worker does; *publish* is
``task.apply_async()`` to the in-memory broker, which sends ``before_task_publish`` and
``after_task_publish``. The variants: Celery without instrumentation (the baseline); jobpulse
(``instrument_celery``: sent, started, completed, retries, runtime and queue-wait histograms, in-flight
gauge, failures by class, with the publish-time and trace headers); OpenTelemetry's Celery instrumentation
(``CeleryInstrumentor`` with the SDK's tracer and meter providers: spans sampled, no exporter attached, so
export cost is not counted). Celery's signals are process-wide, so the variants share one app,
task and producer, and each connects its handlers for its own batches only (outside the timed region).
The overhead of a variant is its time minus the baseline's.
"""

from __future__ import annotations

import gc
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Bench, Section, Variant, main, measure, settings
from celery import Celery
from prometheus_client import CollectorRegistry

from jobpulse import Telemetry
from jobpulse.integrations.celery import instrument_celery

BARE = "Celery, no instrumentation"
JOBPULSE = "Celery + jobpulse (instrument_celery)"
OTEL = "Celery + OpenTelemetry CeleryInstrumentor (SDK)"
SPEC = """\
version: jobpulse/v1
service: {name: bench}
metrics:
  - {name: celery_task_sent_total, type: counter, help: sent, labels: {task: {max_values: 10}, queue: {max_values: 5}}}
  - {name: celery_task_started_total, type: counter, help: started, labels: {task: {max_values: 10}}}
  - name: celery_task_completed_total
    type: counter
    help: completed
    labels: {task: {max_values: 10}, outcome: {values: [success, failure]}}
  - {name: celery_task_retries_total, type: counter, help: retries, labels: {task: {max_values: 10}}}
  - name: celery_task_runtime_seconds
    type: histogram
    unit: seconds
    help: runtime
    labels: {task: {max_values: 10}, outcome: {values: [success, failure]}}
  - {name: celery_task_queue_wait_seconds, type: histogram, unit: seconds, help: wait, labels: {queue: {max_values: 5}}}
  - {name: celery_tasks_in_flight, type: gauge, help: running, labels: {task: {max_values: 10}}}
  - name: celery_task_failed_by_class_total
    type: counter
    help: failures
    labels: {task: {max_values: 10}, error_type: {max_values: 10}}
jobs:
  - name: task
    attributes: [task, queue]
    duration_from: start
    metrics:
      enqueued: celery_task_sent_total
      started: celery_task_started_total
      completed: celery_task_completed_total
      retried: celery_task_retries_total
      duration: celery_task_runtime_seconds
      queue_wait: celery_task_queue_wait_seconds
      in_flight: celery_tasks_in_flight
"""


def celery_app() -> tuple[Celery, Any]:
    app = Celery("bench", broker="memory://", set_as_current=False)
    app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

    @app.task(name="bench.noop", shared=False)
    def noop(x: int) -> int:
        return x

    return app, noop


class Instrumentation:
    """Connects one variant's signal handlers around its own batches."""

    def on(self) -> None: ...

    def off(self) -> None: ...


class JobpulseInstrumentation(Instrumentation):
    def __init__(self, app: Celery) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "jobpulse.yaml"
            spec.write_text(SPEC)
            self.telemetry = Telemetry.from_file(spec, registry=CollectorRegistry())
        self.metrics = instrument_celery(app, self.telemetry, job="task", errors="celery_task_failed_by_class_total")
        self.metrics.disconnect()

    def on(self) -> None:
        self.metrics.connect()

    def off(self) -> None:
        self.metrics.disconnect()


class OtelInstrumentation(Instrumentation):
    def __init__(self) -> None:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        self.instrumentor = CeleryInstrumentor()
        self.tracer_provider = TracerProvider()
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def on(self) -> None:
        self.instrumentor.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def off(self) -> None:
        self.instrumentor.uninstrument()


def batch(
    op: Callable[[], object], instrumentation: Instrumentation, after: Callable[[], object] | None = None
) -> Bench:
    def bench(number: int) -> int:
        instrumentation.on()
        it = itertools.repeat(None, number)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for _ in it:
                op()
            return time.perf_counter_ns() - start
        finally:
            if gc_was_enabled:
                gc.enable()
            instrumentation.off()
            if after is not None:
                after()  # not timed

    return bench


_SHARED: dict[str, Any] = {}


def shared() -> tuple[Celery, Any, Any]:
    """One app, task and producer for every variant: they differ only in the handlers connected."""
    if not _SHARED:
        app, task = celery_app()
        _SHARED.update(app=app, task=task, producer=app.amqp.Producer(app.connection_for_write()))
    return _SHARED["app"], _SHARED["task"], _SHARED["producer"]


def make(kind: str, operation: str) -> Callable[[], Bench]:
    def build() -> Bench:
        app, task, producer = shared()
        instrumentation: Instrumentation
        if kind == JOBPULSE:
            instrumentation = JobpulseInstrumentation(app)
        elif kind == OTEL:
            instrumentation = OtelInstrumentation()
        else:
            instrumentation = Instrumentation()
        if operation == "run":
            return batch(lambda: task.apply((1,)), instrumentation)

        def publish() -> None:
            task.apply_async((1,), producer=producer)

        def purge() -> None:  # the in-memory queue would grow with every batch
            producer.channel.queue_purge("celery")

        return batch(publish, instrumentation, purge)

    return build


def check_jobpulse_counts() -> dict[str, float]:
    """Not timed: jobpulse's handlers do record each eager run (a benchmark of a no-op would be pointless)."""
    app, task = celery_app()
    instrumentation = JobpulseInstrumentation(app)
    instrumentation.on()
    try:
        for i in range(10):
            task.apply((i,))
    finally:
        instrumentation.off()
    registry = instrumentation.telemetry.registry
    assert registry is not None
    return {
        "started": registry.get_sample_value("celery_task_started_total", {"task": "bench.noop"}) or 0.0,
        "completed": registry.get_sample_value(
            "celery_task_completed_total", {"task": "bench.noop", "outcome": "success"}
        )
        or 0.0,
    }


def run(quick: bool = False) -> Section:
    """Celery: per-task overhead of jobpulse's signal handlers vs. OpenTelemetry's Celery instrumentation."""
    counts = check_jobpulse_counts()
    tables = []
    overheads: dict[str, dict[str, float]] = {}
    for operation in ("run", "publish"):
        variants = [
            Variant(BARE, make(BARE, operation), baseline=True),
            Variant(JOBPULSE, make(JOBPULSE, operation)),
            Variant(OTEL, make(OTEL, operation)),
        ]
        results = measure(variants, **settings(quick))
        tables.append(results)
        by_name = {r.name: r.ns_per_op for r in results}
        overheads[operation] = {name: by_name[name] - by_name[BARE] for name in (JOBPULSE, OTEL)}
        overheads[operation]["bare"] = by_name[BARE]
    rows = [
        [
            operation,
            f"{o['bare'] / 1000:,.1f} µs",
            f"{o[JOBPULSE] / 1000:,.1f} µs",
            f"{o[OTEL] / 1000:,.1f} µs",
            f"{o[JOBPULSE] / o[OTEL]:.2f}×" if o[OTEL] > 0 else "n/a",
        ]
        for operation, o in overheads.items()
    ]
    run_o, pub_o = overheads["run"], overheads["publish"]
    reading = (
        f"Running a no-op task through Celery's tracer takes {run_o['bare'] / 1000:,.1f} µs; jobpulse adds "
        f"{run_o[JOBPULSE] / 1000:,.1f} µs to it ({run_o[JOBPULSE] / run_o['bare']:.0%}) and OpenTelemetry "
        f"{run_o[OTEL] / 1000:,.1f} µs ({run_o[OTEL] / run_o['bare']:.0%}), so jobpulse's overhead is "
        f"{run_o[JOBPULSE] / run_o[OTEL]:.2f}× OpenTelemetry's. Publishing costs "
        f"{pub_o['bare'] / 1000:,.1f} µs bare; jobpulse adds {pub_o[JOBPULSE] / 1000:,.1f} µs (the enqueue "
        f"count and three headers) and OpenTelemetry {pub_o[OTEL] / 1000:,.1f} µs (a producer span and its "
        f"context injected into the headers). jobpulse updates pre-resolved prometheus_client children "
        f"(the tracker's bindings) and creates no span; in the {int(counts['completed'])} untimed check runs "
        f"it counted {int(counts['started'])} starts and {int(counts['completed'])} successes."
    )
    return Section(
        key="celery",
        title="Celery: per-task overhead",
        intro=__doc__.split("\n\n", 1)[1].replace("\n", " ").strip() if __doc__ else "",
        results=tables,
        captions=["run: task.apply() (eager, through Celery's tracer)", "publish: task.apply_async() to memory://"],
        extra_tables=[
            (
                "Overhead per task (variant minus the bare baseline)",
                ["operation", "bare Celery", "jobpulse adds", "OpenTelemetry adds", "jobpulse / OpenTelemetry"],
                rows,
            )
        ],
        reading=reading,
    )


if __name__ == "__main__":
    main(run)
