"""RQ jobs as the spec's job lifecycle: a Queue class for producers, a Worker class for workers.

    from jobpulse.integrations.rq import instrument_rq
    rq_metrics = instrument_rq(telemetry, job="render", errors="renders_error_total")
    queue = rq_metrics.queue_class()("renders", connection=redis)        # producer: counts enqueues
    worker = rq_metrics.worker_class()([queue], connection=redis)        # worker: start/outcome/retry
    rq_metrics.requeue(job_id, connection=redis)                          # a failed job back in the queue

Needs ``pip install 'jobpulse[rq]'``. Mapping onto the job lifecycle in the spec:

==================================  ========================================================================
RQ                                  job lifecycle (the spec's roles)
==================================  ========================================================================
``Queue.enqueue*`` / ``enqueue_in`` ``enqueued`` +1 (the queue class; the caller's trace/request ids go into
                                    ``job.meta``)
``Worker.execute_job`` begins       ``started`` +1, ``in_flight`` +1, ``queue_wait`` observes
                                    ``enqueued_at`` → now (RQ sets ``enqueued_at`` when the job enters the
                                    queue list, so a scheduled delay or retry interval is not waiting)
job finished                        ``completed{outcome=success}``, ``duration``
job failed                          ``completed{outcome=failure}``, ``duration``; with ``errors=`` a counter
                                    by exception class (parsed from RQ's stored traceback: the class name
                                    only, never the message)
job failed with retries left        ``retried`` +1 (and ``enqueued`` +1 if ``retries_count_as_enqueued``)
``RQMetrics.requeue``               ``enqueued`` +1 (a failed job put back by hand)
==================================  ========================================================================

The worker records everything in the worker's *main* process, around ``execute_job``: with RQ's forking
``Worker`` the job runs in a work horse that exits after each job, so the outcome is read back from Redis
(one ``HGETALL`` per job, plus the latest result of a failed one). With ``SimpleWorker`` it is the same
process. A handler never raises into RQ: failures are logged at debug level and counted in
``jobpulse_instrumentation_errors_total{integration="rq"}``. The queue-depth role is left to
:class:`jobpulse.runtime.queues.QueueState`, which reads RQ's lists and registries.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from jobpulse.extras import require
from jobpulse.runtime import context as _context
from jobpulse.runtime.metrics import Instrument, Telemetry
from jobpulse.runtime.queues import UNKNOWN, Attributes, TaskInfo, default_attributes, instrumentation_errors
from jobpulse.runtime.tracker import Job as TrackedJob
from jobpulse.runtime.tracker import JobTracker

require("rq", extra="rq", feature="jobpulse's RQ integration")
import rq  # noqa: E402
from rq.job import Job as RQJob  # noqa: E402
from rq.job import JobStatus  # noqa: E402
from rq.registry import FailedJobRegistry  # noqa: E402

__all__ = ["META_REQUEST_ID", "META_TRACEPARENT", "RQMetrics", "exception_class_of", "instrument_rq"]

LOGGER = logging.getLogger("jobpulse.rq")
META_TRACEPARENT = "jobpulse_traceparent"
META_REQUEST_ID = "jobpulse_request_id"
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: the exception line that ends a Python traceback: ``pkg.mod.ClassName: message`` or ``ClassName``
_LAST_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]{0,255})(?::|$)")


def exception_class_of(exc_string: str | None) -> str:
    """The exception class named by the last line of a formatted traceback (``unknown`` if none)."""
    if not exc_string:
        return UNKNOWN
    lines = [line for line in exc_string.strip().splitlines() if line and not line.startswith((" ", "\t"))]
    if not lines:
        return UNKNOWN
    match = _LAST_LINE.match(lines[-1])
    if match is None:
        return UNKNOWN
    name = match.group(1).rsplit(".", 1)[-1]
    return name if _CLASS_NAME.fullmatch(name) else UNKNOWN


class RQMetrics:
    """Job lifecycle metrics for RQ; :meth:`queue_class` and :meth:`worker_class` carry them."""

    def __init__(
        self,
        telemetry: Telemetry,
        job: str,
        *,
        attributes: Attributes = None,
        errors: str | None = None,
        error_label: str = "error_type",
        clock: Callable[[], float] = time.time,
        propagate_context: bool = True,
    ) -> None:
        self.telemetry = telemetry
        self.tracker: JobTracker = telemetry.job(job, clock=clock) if clock is not time.time else telemetry.job(job)
        self.clock = clock
        self.names = self.tracker.model.attributes
        self._attributes = attributes
        self.errors: Instrument | None = telemetry.metric(errors) if errors else None
        self.error_label = error_label
        if self.errors is not None and error_label not in self.errors.names:
            raise ValueError(f"{errors} has no label {error_label!r}; it has {', '.join(self.errors.names)}")
        self.propagate_context = propagate_context
        self._internal = instrumentation_errors(telemetry.registry)

    # -- helpers --------------------------------------------------------------------------------------
    def _failed(self, where: str) -> None:
        LOGGER.debug("jobpulse rq %s failed", where, exc_info=True)
        if self._internal is not None:
            self._internal.labels("rq").inc()

    def attributes_of(self, job: RQJob, queue_name: str | None = None) -> dict[str, object]:
        """The spec job's attributes for an RQ job (its function name, queue, keyword arguments)."""
        try:
            kwargs = job.kwargs if isinstance(job.kwargs, Mapping) else {}
            args = tuple(job.args or ())
        except Exception:  # an undeserialisable payload: attributes from what is known
            kwargs, args = {}, ()
        name = job.func_name if isinstance(job.func_name, str) else UNKNOWN
        info = TaskInfo(name, queue_name or job.origin or UNKNOWN, args, kwargs)
        given = self._attributes
        if callable(given):
            given = given(info)
        return default_attributes(self.names, given or {}, info)

    def count_enqueued(self, job: RQJob, queue_name: str | None = None) -> None:
        """Count one enqueue (the queue class does this; call it for jobs enqueued some other way)."""
        try:
            self.tracker.enqueue_shared(_context.valid_request_id(job.id), **self.attributes_of(job, queue_name))
        except Exception:
            self._failed("enqueue")

    def stamp(self, job: RQJob) -> None:
        """Put the current request's trace and request ids in ``job.meta`` (saved with the job)."""
        if not self.propagate_context:
            return
        ctx = _context.current()
        if ctx is not None:
            job.meta[META_TRACEPARENT] = ctx.traceparent
            job.meta[META_REQUEST_ID] = ctx.request_id

    def requeue(self, job_or_id: RQJob | str, connection: Any, *, at_front: bool = False) -> RQJob:
        """Put a failed job back in its queue (``FailedJobRegistry.requeue``) and count the new attempt."""
        job = job_or_id if isinstance(job_or_id, RQJob) else RQJob.fetch(job_or_id, connection=connection)
        registry = FailedJobRegistry(job.origin, connection=connection, job_class=type(job))
        requeued = registry.requeue(job, at_front=at_front)
        self.count_enqueued(requeued)
        return requeued

    # -- the worker's side ----------------------------------------------------------------------------
    def before_execute(self, job: RQJob, queue: Any) -> tuple[TrackedJob, int, int, Any] | None:
        try:
            now = self.clock()
            enqueued = job.enqueued_at.timestamp() if job.enqueued_at is not None else None
            values = self.attributes_of(job, getattr(queue, "name", None))
            retries_before = job.retries_left if isinstance(job.retries_left, int) else -1
            number_before = job.number_of_retries or 0
            attempts = 1 + number_before
            tracked = self.tracker.adopt(
                _context.valid_request_id(job.id),
                enqueued_at=enqueued,
                attempts=attempts,
                wait=enqueued is not None and enqueued <= now + 300,
                **values,
            )
            token = None
            if self.propagate_context:
                token = _context._current.set(self._context_for(job))
            tracked.start()
            return tracked, retries_before, number_before, token
        except Exception:
            self._failed("execute_job (start)")
            return None

    def _context_for(self, job: RQJob) -> _context.RequestContext:
        meta = job.meta if isinstance(job.meta, Mapping) else {}
        raw_parent, raw_request = meta.get(META_TRACEPARENT), meta.get(META_REQUEST_ID)
        parsed = _context.parse_traceparent(raw_parent if isinstance(raw_parent, str) else None)
        request_id = _context.valid_request_id(raw_request if isinstance(raw_request, str) else None)
        if parsed is None:
            ctx = _context.RequestContext(request_id=request_id)
        else:
            trace_id, parent, sampled = parsed
            ctx = _context.RequestContext(trace_id, None, request_id, parent_span_id=parent, sampled=sampled)
        ctx.job_id = _context.valid_request_id(job.id)
        return ctx

    def after_execute(self, job: RQJob, state: tuple[TrackedJob, int, int, Any] | None) -> None:
        if state is None:
            return
        tracked, retries_before, number_before, token = state
        try:
            self._outcome(job, tracked, retries_before, number_before)
        except Exception:
            self._failed("execute_job (outcome)")
            with contextlib.suppress(Exception):
                tracked.fail()
        finally:
            if token is not None:
                with contextlib.suppress(ValueError):
                    _context._current.reset(token)

    def _outcome(self, job: RQJob, tracked: TrackedJob, retries_before: int, number_before: int) -> None:
        try:
            job.refresh()  # type: ignore[no-untyped-call]
        except rq.exceptions.NoSuchJobError:
            tracked.succeed()  # only a finished job with result_ttl=0 is deleted at once
            return
        retries_after = job.retries_left if isinstance(job.retries_left, int) else -1
        retried = 0 <= retries_after < retries_before or (job.number_of_retries or 0) > number_before
        if retried and job.get_status(refresh=False) != JobStatus.FAILED:
            tracked.retry()  # failed with retries left (or returned Retry): back in the queue
            return
        status = job.get_status(refresh=False)
        if status == JobStatus.FINISHED:
            tracked.succeed()
            return
        if not tracked.fail():
            return
        if self.errors is not None:
            error = UNKNOWN
            with contextlib.suppress(Exception):
                result = job.latest_result()
                if result is not None:
                    error = exception_class_of(result.exc_string) if result.exc_string else "MaxRetriesExceeded"
            if status == JobStatus.STOPPED:
                error = "Stopped"
            merged = {**tracked.attributes, self.error_label: error}
            self.errors.labels(**{name: merged.get(name, UNKNOWN) for name in self.errors.names}).inc()

    # -- classes --------------------------------------------------------------------------------------
    def queue_class(self, base: type[rq.Queue] = rq.Queue) -> type[rq.Queue]:
        """A Queue subclass that counts enqueues (immediate and scheduled) and stamps trace ids."""
        metrics = self

        class JobPulseQueue(base):  # type: ignore[valid-type,misc]
            def enqueue_job(self, job: RQJob, *args: Any, **kwargs: Any) -> RQJob:
                metrics.stamp(job)
                out: RQJob = super().enqueue_job(job, *args, **kwargs)
                metrics.count_enqueued(job, self.name)
                return out

            def schedule_job(self, job: RQJob, *args: Any, **kwargs: Any) -> RQJob:
                # a retry scheduled by RQ (the job has run) is counted by the worker, not here
                fresh = job.started_at is None
                if fresh:
                    metrics.stamp(job)
                out: RQJob = super().schedule_job(job, *args, **kwargs)
                if fresh:
                    metrics.count_enqueued(job, self.name)
                return out

        JobPulseQueue.__name__ = JobPulseQueue.__qualname__ = f"JobPulse{base.__name__}"
        return JobPulseQueue

    def worker_class(self, base: type[Any] = rq.Worker) -> type[Any]:
        """A Worker (or SimpleWorker, ...) subclass recording each job's start and outcome."""
        metrics = self

        class JobPulseWorker(base):  # type: ignore[misc]
            def execute_job(self, job: RQJob, queue: Any) -> Any:
                state = metrics.before_execute(job, queue)
                try:
                    return super().execute_job(job, queue)
                finally:
                    metrics.after_execute(job, state)

            def unsubscribe(self) -> None:
                _stop_pubsub_thread(self)

        JobPulseWorker.__name__ = JobPulseWorker.__qualname__ = f"JobPulse{base.__name__}"
        return JobPulseWorker


def _stop_pubsub_thread(worker: Any) -> None:
    """RQ's ``Worker.unsubscribe`` without its shutdown stall on redis-py >= 8.2.

    RQ unsubscribes, then stops the pubsub thread. When the thread handles the unsubscribe reply first, it
    loops back into ``get_message(timeout=60)`` on a pubsub that is no longer subscribed, which waits the full
    60 s; redis-py 8.2's ``stop()`` joins it, so every worker exit (every ``--burst`` run) can take a minute.
    Clearing the thread's run flag *before* unsubscribing lets it exit on the reply, as RQ intends.
    """
    thread = getattr(worker, "pubsub_thread", None)
    if not thread:
        return
    worker.log.info("Worker %s: unsubscribing from channel %s", worker.name, worker.pubsub_channel_name)
    try:
        thread.stop(timeout=0)  # redis-py >= 8.2: clear the flag, do not wait yet
    except TypeError:
        thread.stop()  # older redis-py: stop() only clears the flag
    worker.pubsub.unsubscribe()
    thread.join(timeout=1)
    worker.pubsub.close()


def instrument_rq(
    telemetry: Telemetry,
    job: str,
    *,
    attributes: Attributes = None,
    errors: str | None = None,
    error_label: str = "error_type",
    clock: Callable[[], float] = time.time,
    propagate_context: bool = True,
) -> RQMetrics:
    """RQ metrics mapped onto the spec's job ``job``; use its ``queue_class()`` and ``worker_class()``.

    ``attributes`` works as in :func:`jobpulse.integrations.celery.instrument_celery` (the task name is
    the job's function name, the queue its origin); ``errors`` names a counter with an ``error_label``
    label for failures by exception class.
    """
    return RQMetrics(
        telemetry,
        job,
        attributes=attributes,
        errors=errors,
        error_label=error_label,
        clock=clock,
        propagate_context=propagate_context,
    )
