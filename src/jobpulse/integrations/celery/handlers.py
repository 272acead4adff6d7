"""Signal handlers mapping Celery task events onto the spec's job lifecycle (:mod:`jobpulse.integrations.celery`)."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jobpulse.extras import require
from jobpulse.integrations.celery.headers import (
    PUBLISHED_AT,
    REQUEST_ID,
    TRACEPARENT,
    eta_seconds,
    float_header,
    header,
    queue_of,
    str_or_none,
)
from jobpulse.runtime import context as _context
from jobpulse.runtime.metrics import Instrument, Telemetry
from jobpulse.runtime.queues import (
    UNKNOWN,
    Attributes,
    TaskInfo,
    default_attributes,
    error_class,
    instrumentation_errors,
)
from jobpulse.runtime.tracker import Job, JobTracker

_signals: Any = require("celery.signals", extra="celery", feature="jobpulse's Celery integration")


LOGGER = logging.getLogger("jobpulse.celery")


def _attempt(request: Any) -> int:
    """Which attempt a task request is: 0 for the first, then its number of retries."""
    retries = getattr(request, "retries", 0)
    return retries if isinstance(retries, int) and retries >= 0 else 0


@dataclass
class _Running:
    job: Job
    token: contextvars.Token[Any] | None


class CeleryMetrics:
    """The signal handlers for one Celery app; :func:`instrument_celery` connects them."""

    def __init__(
        self,
        app: Any,
        telemetry: Telemetry,
        job: str,
        *,
        attributes: Attributes = None,
        errors: str | None = None,
        error_label: str = "error_type",
        revoked: str | None = None,
        include: Callable[[str], bool] | None = None,
        on_process_init: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        propagate_context: bool = True,
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.tracker: JobTracker = telemetry.job(job, clock=clock) if clock is not time.time else telemetry.job(job)
        self.clock = clock
        self.names = self.tracker.model.attributes
        self._attributes = attributes
        fixed = set(attributes) if isinstance(attributes, Mapping) else set()
        self._cacheable = not callable(attributes) and all(
            name in fixed or name in ("task", "task_name", "queue", "queue_name") for name in self.names
        )
        self._cache: dict[tuple[str, str], tuple[object, ...]] = {}
        self.errors: Instrument | None = telemetry.metric(errors) if errors else None
        self.error_label = error_label
        if self.errors is not None and error_label not in self.errors.names:
            raise ValueError(f"{errors} has no label {error_label!r}; it has {', '.join(self.errors.names)}")
        self.revoked: Instrument | None = telemetry.metric(revoked) if revoked else None
        self.include = include or (lambda name: not name.startswith("celery."))
        self.on_process_init = on_process_init
        self.propagate_context = propagate_context
        #: (task id, attempt): a retry has its task's id, and may start before the attempt it retries has ended
        self._running: dict[tuple[str, int], _Running] = {}
        self._lock = threading.Lock()
        self._uid = f"jobpulse-celery-{id(self)}"
        self._connected = False
        self._internal = instrumentation_errors(telemetry.registry) if telemetry.registry is not None else None

    # -- wiring ---------------------------------------------------------------------------------------
    def _pairs(self) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (_signals.before_task_publish, self._on_publish),
            (_signals.task_prerun, self._on_prerun),
            (_signals.task_success, self._on_success),
            (_signals.task_failure, self._on_failure),
            (_signals.task_retry, self._on_retry),
            (_signals.task_revoked, self._on_revoked),
            (_signals.task_postrun, self._on_postrun),
            (_signals.worker_process_init, self._on_process_init),
        ]

    def connect(self) -> CeleryMetrics:
        if not self._connected:
            for signal, handler in self._pairs():
                signal.connect(handler, weak=False, dispatch_uid=self._uid)
            self._connected = True
        return self

    def disconnect(self) -> None:
        if self._connected:
            for signal, handler in self._pairs():
                signal.disconnect(handler, dispatch_uid=self._uid)
            self._connected = False

    @property
    def running(self) -> int:
        """Tasks started in this process and not finished."""
        return len(self._running)

    # -- helpers --------------------------------------------------------------------------------------
    def _values(self, info: TaskInfo) -> tuple[object, ...]:
        """The job's attribute values, in the spec's order (cached per task and queue when they depend on
        nothing else)."""
        key = (info.name, info.queue)
        cached = self._cache.get(key) if self._cacheable else None
        if cached is not None:
            return cached
        given = self._attributes
        if callable(given):
            given = given(info)
        values = default_attributes(self.names, given or {}, info)
        out = tuple(values[name] for name in self.names)
        if self._cacheable and len(self._cache) < 1000:
            self._cache[key] = out
        return out

    def _failed(self, where: str) -> None:
        LOGGER.debug("jobpulse celery %s handler failed", where, exc_info=True)
        if self._internal is not None:
            self._internal.labels("celery").inc()

    def _ours(self, task: Any) -> bool:
        return task is not None and getattr(task, "app", None) is self.app and self.include(str(task.name))

    def _subset(self, instrument: Instrument, values: Mapping[str, object], **extra: object) -> dict[str, object]:
        merged = {**values, **extra}
        return {name: merged.get(name, UNKNOWN) for name in instrument.names}

    # -- producer -------------------------------------------------------------------------------------
    def _on_publish(
        self,
        sender: Any = None,
        body: Any = None,
        routing_key: Any = None,
        headers: Any = None,
        **_: Any,
    ) -> None:
        try:
            if not isinstance(headers, dict):
                return  # protocol 1 messages carry no headers of their own
            name = str(headers.get("task") or sender or "")
            if not self.include(name):
                return
            headers[PUBLISHED_AT] = repr(self.clock())
            if self.propagate_context:
                ctx = _context.current()
                if ctx is not None:
                    headers[TRACEPARENT] = ctx.traceparent
                    headers[REQUEST_ID] = ctx.request_id
            retries = headers.get("retries") or 0
            if isinstance(retries, int) and retries > 0:
                return  # a retry's republish: counted by task_retry in the worker
            args: tuple[Any, ...] = ()
            kwargs: Mapping[str, Any] = {}
            if isinstance(body, (tuple, list)) and len(body) >= 2:
                args = tuple(body[0]) if isinstance(body[0], (list, tuple)) else ()
                kwargs = body[1] if isinstance(body[1], Mapping) else {}
            queue = routing_key if isinstance(routing_key, str) and routing_key else UNKNOWN
            info = TaskInfo(name, queue, args, kwargs)
            task_id = _context.valid_request_id(headers.get("id"))
            self.tracker.enqueue_shared(task_id, *self._values(info))
        except Exception:
            self._failed("before_task_publish")

    # -- worker ---------------------------------------------------------------------------------------
    def _on_prerun(self, task_id: Any = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        try:
            if not self._ours(task):
                return
            request = task.request
            now = self.clock()
            info = TaskInfo(
                str(task.name),
                queue_of(request),
                tuple(args or ()),
                kwargs if isinstance(kwargs, Mapping) else {},
            )
            values = self._values(info)
            safe_id = _context.valid_request_id(task_id if isinstance(task_id, str) else None)
            published = float_header(header(request, PUBLISHED_AT), now)
            eager = bool(getattr(request, "is_eager", False))
            if published is None and eager:
                self.tracker.enqueue_shared(safe_id, *values)
                published = now
            eta = eta_seconds(header(request, "eta"))
            since = published if eta is None or published is None else max(published, min(eta, now))
            retries = getattr(request, "retries", 0)
            attempts = retries + 1 if isinstance(retries, int) and retries >= 0 else 1
            job = self.tracker.adopt(safe_id, *values, enqueued_at=since, attempts=attempts, wait=since is not None)
            token = None
            if self.propagate_context:
                token = _context._current.set(self._context_for(request, safe_id))
            job.start()
            if isinstance(task_id, str):
                with self._lock:
                    self._running[(task_id, attempts - 1)] = _Running(job, token)
        except Exception:
            self._failed("task_prerun")

    def _context_for(self, request: Any, job_id: str | None) -> _context.RequestContext:
        parsed = _context.parse_traceparent(str_or_none(header(request, TRACEPARENT)))
        request_id = _context.valid_request_id(str_or_none(header(request, REQUEST_ID)))
        if parsed is None:
            ctx = _context.RequestContext(request_id=request_id)
        else:
            trace_id, parent, sampled = parsed
            ctx = _context.RequestContext(trace_id, None, request_id, parent_span_id=parent, sampled=sampled)
        ctx.job_id = job_id
        return ctx

    def _get(self, task_id: Any, request: Any) -> _Running | None:
        if not isinstance(task_id, str):
            return None
        return self._running.get((task_id, _attempt(request)))

    def _on_success(self, sender: Any = None, **_: Any) -> None:
        try:
            if sender is None:
                return
            running = self._get(getattr(sender.request, "id", None), sender.request)
            if running is not None:
                running.job.succeed()
        except Exception:
            self._failed("task_success")

    def _on_failure(self, sender: Any = None, task_id: Any = None, exception: Any = None, **_: Any) -> None:
        try:
            running = self._get(task_id, getattr(sender, "request", None))
            if running is None:
                return
            if running.job.fail(exception) and self.errors is not None:
                labels = self._subset(self.errors, running.job.attributes, **{self.error_label: error_class(exception)})
                self.errors.labels(**labels).inc()
        except Exception:
            self._failed("task_failure")

    def _on_retry(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        try:
            running = self._get(getattr(request, "id", None), request)
            if running is not None:
                running.job.retry()
        except Exception:
            self._failed("task_retry")

    def _on_revoked(self, sender: Any = None, request: Any = None, terminated: Any = False, **_: Any) -> None:
        try:
            task_id = getattr(request, "id", None)
            name = str(getattr(request, "task_name", None) or getattr(sender, "name", "") or "")
            if not self.include(name):
                return
            with self._lock:
                # a revoked task id: every attempt of it that is running (the latest one's labels below)
                attempts = sorted(key for key in self._running if key[0] == task_id) if isinstance(task_id, str) else []
                popped = [self._running.pop(key) for key in attempts]
            running = popped[-1] if popped else None
            for other in popped:
                other.job.fail()
            if running is not None:
                values: Mapping[str, object] = running.job.attributes
            else:
                kwargs = getattr(request, "kwargs", None)
                info = TaskInfo(name, queue_of(request), (), kwargs if isinstance(kwargs, Mapping) else {})
                values = dict(zip(self.names, self._values(info), strict=True))
            if self.revoked is not None:
                self.revoked.labels(**self._subset(self.revoked, values)).inc()
        except Exception:
            self._failed("task_revoked")

    def _on_postrun(self, task_id: Any = None, task: Any = None, state: Any = None, **_: Any) -> None:
        try:
            if not isinstance(task_id, str):
                return
            with self._lock:
                running = self._running.pop((task_id, _attempt(getattr(task, "request", None))), None)
            if running is None:
                return
            job = running.job
            if job.state == "running":
                # Ignore/Reject, or a success/failure signal that did not arrive: close the attempt
                if state == "SUCCESS":
                    job.succeed()
                else:
                    job.fail()
            if running.token is not None:
                with contextlib.suppress(ValueError):  # set in another context (should not happen): leave it
                    _context._current.reset(running.token)
        except Exception:
            self._failed("task_postrun")

    def _on_process_init(self, **_: Any) -> None:
        # a forked pool child: nothing is running here yet; locks may have been copied held
        self._running = {}
        self._lock = threading.Lock()
        if self.on_process_init is not None:
            try:
                self.on_process_init()
            except Exception:
                self._failed("worker_process_init")


def instrument_celery(
    app: Any,
    telemetry: Telemetry,
    job: str,
    *,
    attributes: Attributes = None,
    errors: str | None = None,
    error_label: str = "error_type",
    revoked: str | None = None,
    include: Callable[[str], bool] | None = None,
    on_process_init: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
    propagate_context: bool = True,
) -> CeleryMetrics:
    """Connect jobpulse's signal handlers for ``app``'s tasks, mapped onto the spec's job ``job``.

    Call it where the app is defined, so both the producer and the worker (every pool child) run it.
    ``attributes`` gives the job's label values: a mapping of fixed values, or a function of
    :class:`TaskInfo`; unnamed attributes default to the task name (``task``/``task_name``), its queue
    (``queue``/``queue_name``) or the task's keyword argument of the same name. ``errors`` names a counter
    with an ``error_label`` label (the exception class) and any of the job's attributes; ``revoked`` a
    counter of revoked tasks. ``include`` filters task names (default: all but Celery's own ``celery.*``).
    Returns the handlers; ``.disconnect()`` removes them.
    """
    return CeleryMetrics(
        app,
        telemetry,
        job,
        attributes=attributes,
        errors=errors,
        error_label=error_label,
        revoked=revoked,
        include=include,
        on_process_init=on_process_init,
        clock=clock,
        propagate_context=propagate_context,
    ).connect()
