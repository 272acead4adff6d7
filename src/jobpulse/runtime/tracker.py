"""The job tracker: enqueue → start → succeed/fail, retries and requeues, kept consistent.

Every job attempt is counted once: a second ``succeed()`` is ignored, queue depth never goes negative
(only a queued attempt leaves the queue), and an exception inside ``with tracker.run(...)`` or a
``@tracker.track`` function is recorded as a failure before it propagates.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
import time
from collections.abc import Callable
from contextlib import ContextDecorator
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from jobpulse.runtime import context as _context
from jobpulse.runtime._client_internals import adder, observer
from jobpulse.runtime.labels import LabelError, key_getter
from jobpulse.spec.model import Job as JobModel

if TYPE_CHECKING:
    from jobpulse.runtime.metrics import Instrument, Telemetry

P = ParamSpec("P")
R = TypeVar("R")
State = Literal["queued", "running", "succeeded", "failed"]
QUEUED: State = "queued"
RUNNING: State = "running"
SUCCEEDED: State = "succeeded"
FAILED: State = "failed"
_new_job = object.__new__
_origin = _context._current.get  # the request context a job is enqueued in (None outside requests)


def _enter_origin(origin: _context.RequestContext, job_id: str) -> object:
    """Run the job under the context it was enqueued in: its log lines carry the request's trace id."""
    return _context._current.set(origin.copy(span_id=_context.new_span_id(), job_id=job_id))


def _leave_origin(token: object) -> None:
    # finished in another thread or task than it started in: that context is not ours to reset
    with contextlib.suppress(ValueError):
        _context._current.reset(token)  # type: ignore[arg-type]


def new_job_id() -> str:
    """A random id exactly like ``uuid.uuid4().hex`` (version 4, RFC 4122 variant), at a third of its cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


class _Binding:
    """Pre-resolved prometheus_client children for one combination of job attributes."""

    __slots__ = (
        "attributes",
        "depth",
        "done_failure",
        "done_success",
        "duration_failure",
        "duration_success",
        "enqueued",
        "in_flight",
        "queue_wait",
        "retried",
        "start_more",
        "started",
    )

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes  # the job attributes as strings; each Job copies it on first access
        self.enqueued: Any = None
        self.started: Any = None
        self.retried: Any = None
        self.queue_wait: Any = None
        self.depth: Any = None
        self.in_flight: Any = None
        self.done_success: Any = None
        self.done_failure: Any = None
        self.duration_success: Any = None
        self.duration_failure: Any = None
        self.start_more = False  # whether start() has more to update than the queue depth


class Job:
    """One job: its attributes, state and the time its current attempt was enqueued and started."""

    __slots__ = (
        "_attributes",
        "_b",
        "_ctx_token",
        "_tracker",
        "attempts",
        "enqueued_at",
        "id",
        "origin",
        "started_at",
        "state",
    )

    # The lifecycle methods below are the hot path (see benchmarks/bench_tracker.py): they read each
    # attribute once into a local and `succeed` repeats `_finish` inline rather than calling it.

    def __init__(
        self,
        tracker: JobTracker,
        job_id: str,
        attributes: dict[str, str] | None,
        binding: _Binding,
        now: float,
    ) -> None:
        self._tracker = tracker
        self._b = binding
        self.id = job_id
        self._attributes = attributes  # None: copied from the binding on first access
        self.state: State = QUEUED
        self.enqueued_at = now
        self.started_at: float | None = None
        self.attempts = 1
        self.origin: _context.RequestContext | None = _origin()
        self._ctx_token: object = None

    @property
    def attributes(self) -> dict[str, str]:
        """The job's attributes (label values as strings), e.g. ``{"scenario": "x", "backend": "rq"}``."""
        attributes = self._attributes
        if attributes is None:
            attributes = self._attributes = dict(self._b.attributes)
        return attributes

    @attributes.setter
    def attributes(self, value: dict[str, str]) -> None:
        self._attributes = value

    def __repr__(self) -> str:
        return f"Job({self._tracker.model.name}:{self.id} {self.state}, attempt {self.attempts})"

    @property
    def finished(self) -> bool:
        return self.state is SUCCEEDED or self.state is FAILED

    def start(self) -> bool:
        """The attempt leaves the queue and starts running. Returns False if it was not queued."""
        if self.state is not QUEUED:
            return False
        b = self._b
        clock = self._tracker.clock  # a local: `obj.attr()` on an instance attribute is not specialised
        now = clock()
        self.state = RUNNING
        self.started_at = now
        if (depth := b.depth) is not None:
            depth(-1)
        if b.start_more:
            if b.in_flight is not None:
                b.in_flight(1)
            if b.started is not None:
                b.started(1)
            if b.queue_wait is not None:
                b.queue_wait((now - self.enqueued_at) * self._tracker.queue_wait_scale)
        if (origin := self.origin) is not None:
            self._ctx_token = _enter_origin(origin, self.id)
        return True

    def succeed(self, attempt: int | None = None) -> bool:
        """Record success; returns False (and records nothing) if this attempt had already finished.

        Pass the ``attempt`` number read when the work started to ignore the result of an attempt that
        was superseded meanwhile (the job was requeued while it ran).
        """
        # `_finish(True)` spelled out: one Python call less on the common path
        state = self.state
        if state is SUCCEEDED or state is FAILED or (attempt is not None and attempt != self.attempts):
            return False
        if (token := self._ctx_token) is not None:
            self._ctx_token = None
            _leave_origin(token)
        b = self._b
        tracker = self._tracker
        clock = tracker.clock
        now = clock()
        if state is QUEUED:
            if b.depth is not None:
                b.depth(-1)
        elif b.in_flight is not None:
            b.in_flight(-1)
        self.state = SUCCEEDED
        if (done := b.done_success) is not None:
            done(1)
        if (duration := b.duration_success) is not None:
            since = self.started_at if tracker.from_start and self.started_at is not None else self.enqueued_at
            duration((now - since) * tracker.duration_scale)
        live = tracker._live
        if live.get(self.id) is self:  # a newer job may have been enqueued under the same id
            del live[self.id]
        return True

    def fail(self, error: BaseException | None = None, attempt: int | None = None) -> bool:
        """Record failure; returns False (and records nothing) if this attempt had already finished
        (or, with ``attempt``, if that attempt was superseded by a requeue)."""
        if attempt is not None and attempt != self.attempts:
            return False
        return self._finish(False)

    def _leave(self) -> None:
        if (token := self._ctx_token) is not None:
            self._ctx_token = None
            _leave_origin(token)

    def _finish(self, ok: bool) -> bool:
        state = self.state
        if state is SUCCEEDED or state is FAILED:
            return False
        self._leave()
        b = self._b
        tracker = self._tracker
        clock = tracker.clock
        now = clock()
        if state is QUEUED:
            if b.depth is not None:
                b.depth(-1)
        elif b.in_flight is not None:
            b.in_flight(-1)
        self.state = SUCCEEDED if ok else FAILED
        done = b.done_success if ok else b.done_failure
        if done is not None:
            done(1)
        duration = b.duration_success if ok else b.duration_failure
        if duration is not None:
            since = self.started_at if tracker.from_start and self.started_at is not None else self.enqueued_at
            duration((now - since) * tracker.duration_scale)
        live = tracker._live
        if live.get(self.id) is self:  # a newer job may have been enqueued under the same id
            del live[self.id]
        return True

    def retry(self) -> bool:
        """The running attempt failed and goes back to the queue as a new attempt."""
        if self.state is not RUNNING:
            return False
        self._leave()
        b = self._b
        if b.in_flight is not None:
            b.in_flight(-1)
        if b.retried is not None:
            b.retried(1)
        self._enter_queue(count=self._tracker.model.retries_count_as_enqueued)
        return True

    def requeue(self) -> None:
        """Manually put the job back in the queue as a new attempt (e.g. a refresh endpoint)."""
        b = self._b
        if self.state is RUNNING:
            self._leave()
            if b.in_flight is not None:
                b.in_flight(-1)
        if self.state is QUEUED:
            # still waiting: a new attempt replaces the old one, depth unchanged
            if b.enqueued is not None:
                b.enqueued(1)
            self.enqueued_at = self._tracker.clock()
            self.attempts += 1
            return
        self._enter_queue(count=True)
        self._tracker._remember(self)

    def _enter_queue(self, *, count: bool) -> None:
        b = self._b
        self.state = QUEUED
        self.enqueued_at = self._tracker.clock()
        self.started_at = None
        self.attempts += 1
        if count and b.enqueued is not None:
            b.enqueued(1)
        if b.depth is not None:
            b.depth(1)

    # inline execution: `with job:` runs the job, recording failure if the block raises
    def __enter__(self) -> Job:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(exc)
        else:
            self.succeed()


class JobTracker:
    """Tracks jobs of one lifecycle declared in the spec, updating the metrics it names."""

    def __init__(self, telemetry: Telemetry, model: JobModel, *, clock: Callable[[], float] = time.time) -> None:
        self.telemetry = telemetry
        self.model = model
        self.clock = clock
        self.from_start = model.duration_from == "start"
        self.duration_scale = model.duration.unit_scale if model.duration else 1.0
        self.queue_wait_scale = model.queue_wait.unit_scale if model.queue_wait else 1.0
        self._attrs = model.attributes
        self._n_attrs = len(model.attributes)
        self._key = key_getter(model.attributes)
        self._bindings: dict[tuple[object, ...], _Binding] = {}
        self._shared_bindings: dict[tuple[tuple[object, ...], bool], _Binding] = {}
        self._live: dict[str, Job] = {}
        self._lock = threading.Lock()
        roles = model.roles()
        self._instruments: dict[str, Instrument] = {role: telemetry.metric(m.name) for role, m in roles.items()}

    # -- explicit calls -------------------------------------------------------------------------------
    def enqueue(self, job_id: str | None = None, *values: object, **attributes: object) -> Job:
        """A new job enters the queue (one attempt counted).

        Attributes are given by name, ``enqueue(job_id, scenario="x", backend="rq")``, or — a little
        faster — by position in the spec's ``attributes`` order, ``enqueue(job_id, "x", "rq")``.
        """
        if not values:
            if len(attributes) == self._n_attrs:
                try:
                    get_key = self._key
                    key = get_key(attributes)
                except KeyError:
                    key = self._check_attributes(attributes)
            else:
                key = self._check_attributes(attributes)
        elif attributes or len(values) != self._n_attrs:
            key = self._check_attributes(attributes, values)
        else:
            key = values
        binding = self._bindings.get(key)
        if binding is None:
            binding = self._bind(key)
        if not job_id:
            job_id = new_job_id()
        # Job(self, job_id, None, binding, self.clock()) without the cost of calling __init__
        job = _new_job(Job)
        job._tracker = self
        job._b = binding
        job.id = job_id
        job._attributes = None
        job.state = QUEUED
        clock = self.clock
        job.enqueued_at = clock()
        job.started_at = None
        job.attempts = 1
        job.origin = _origin()
        job._ctx_token = None
        if (enqueued := binding.enqueued) is not None:
            enqueued(1)
        if (depth := binding.depth) is not None:
            depth(1)
        self._live[job_id] = job
        return job

    # -- queues shared between processes (Celery, RQ) ----------------------------------------------
    def enqueue_shared(self, job_id: str | None = None, *values: object, **attributes: object) -> Job:
        """Count a job put on a queue that other processes consume (a Celery or RQ producer).

        Like :meth:`enqueue`, ``enqueued`` is counted, but the queue-depth gauge is not touched (a shared
        queue's depth is the broker's: see :mod:`jobpulse.runtime.queues`) and the job is not kept for
        :meth:`get`, since another process runs it. The returned job is informational.
        """
        job = self._adopt(job_id, self._key_of(values, attributes), None, 1, True)
        if job._b.enqueued is not None:
            job._b.enqueued(1)
        return job

    def adopt(
        self,
        job_id: str | None = None,
        *values: object,
        enqueued_at: float | None = None,
        attempts: int = 1,
        wait: bool = True,
        **attributes: object,
    ) -> Job:
        """A job enqueued in another process (counted there), about to start in this one.

        Nothing is counted. The job is queued since ``enqueued_at`` (default: now; never later than
        now), so its ``start()`` observes the queue wait from then — or no queue wait at all with
        ``wait=False``, when the enqueue time is unknown. It never touches the queue-depth gauge and is
        not kept for :meth:`get`: the caller holds it. Its retry/succeed/fail update the same metrics as
        any job's.
        """
        return self._adopt(job_id, self._key_of(values, attributes), enqueued_at, attempts, wait)

    def _key_of(self, values: tuple[object, ...], attributes: dict[str, object]) -> tuple[object, ...]:
        if values and not attributes and len(values) == self._n_attrs:
            return values
        return self._check_attributes(attributes, values)

    def _adopt(
        self, job_id: str | None, key: tuple[object, ...], enqueued_at: float | None, attempts: int, wait: bool
    ) -> Job:
        binding = self._shared_binding(key, wait)
        now = self.clock()
        job = _new_job(Job)
        job._tracker = self
        job._b = binding
        job.id = job_id or new_job_id()
        job._attributes = None
        job.state = QUEUED
        job.enqueued_at = now if enqueued_at is None else min(enqueued_at, now)
        job.started_at = None
        job.attempts = attempts
        job.origin = _origin()
        job._ctx_token = None
        return job

    def _shared_binding(self, key: tuple[object, ...], wait: bool) -> _Binding:
        cached = self._shared_bindings.get((key, wait))
        if cached is not None:
            return cached
        local = self._bindings.get(key)
        clean = local is not None
        if local is None:
            local = self._bind(key)
            clean = key in self._bindings
        shared = _Binding(local.attributes)
        for slot in _Binding.__slots__:
            setattr(shared, slot, getattr(local, slot))
        shared.depth = None
        if not wait:
            shared.queue_wait = None
        shared.start_more = not (shared.in_flight is shared.started is shared.queue_wait is None)
        if clean:
            with self._lock:
                self._shared_bindings[key, wait] = shared
        return shared

    def get(self, job_id: str) -> Job | None:
        """A job that has not finished yet, by id."""
        return self._live.get(job_id)

    def start(self, job_id: str) -> Job | None:
        job = self._live.get(job_id)
        if job is not None:
            job.start()
        return job

    def succeed(self, job_id: str) -> Job | None:
        job = self._live.get(job_id)
        if job is not None:
            job.succeed()
        return job

    def fail(self, job_id: str, error: BaseException | None = None) -> Job | None:
        job = self._live.get(job_id)
        if job is not None:
            job.fail(error)
        return job

    @property
    def live(self) -> int:
        """Jobs enqueued or running and not finished."""
        return len(self._live)

    # -- inline execution -----------------------------------------------------------------------------
    def run(self, job_id: str | None = None, *values: object, **attributes: object) -> _Run:
        """Enqueue and run a job inline; an exception inside the block records a failure and propagates.

        ``with tracker.run(scenario="x") as job:`` enqueues and starts the job on entry and records its
        outcome on exit; like a ``contextlib.contextmanager`` it also works as a decorator.
        """
        return _Run(self, job_id, values, attributes)

    def track(self, **attributes: object) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function (sync or async) so each call is one tracked job."""
        # Each call enqueues a job and runs the function inside `with job:` (start, then success or
        # failure). Valid attributes are passed positionally (the fast path); wrong ones are passed by
        # name so that each call reports them, as it would through `tracker.run(**attributes)`.
        enqueue = self.enqueue
        valid = set(attributes) == set(self._attrs)
        values = tuple(attributes[name] for name in self._attrs) if valid else ()
        named = {} if valid else attributes

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    with enqueue(None, *values, **named):
                        return await func(*args, **kwargs)

                return run_async  # type: ignore[return-value]

            @functools.wraps(func)
            def run_sync(*args: P.args, **kwargs: P.kwargs) -> R:
                with enqueue(None, *values, **named):
                    return func(*args, **kwargs)

            return run_sync

        return decorate

    # -- internals ------------------------------------------------------------------------------------
    def _forget(self, job: Job) -> None:
        if self._live.get(job.id) is job:
            del self._live[job.id]

    def _remember(self, job: Job) -> None:
        self._live[job.id] = job

    def _check_attributes(self, attributes: dict[str, object], values: tuple[object, ...] = ()) -> tuple[object, ...]:
        """The slow path: wrong attribute names (or positional values) raise in strict mode, else are
        counted once in ``jobpulse_label_errors_total{metric="job:<name>"}`` and fixed up."""
        positional = dict(zip(self._attrs, values, strict=False))
        twice = sorted(positional.keys() & attributes.keys())
        merged = {**attributes, **positional}
        given = set(merged)
        if given != set(self._attrs) or twice or len(values) > len(self._attrs):
            message = (
                f"job {self.model.name!r} takes attributes ({', '.join(self._attrs) or 'none'}), "
                f"got ({', '.join(sorted(given)) or 'none'})"
            )
            if len(values) > len(self._attrs):
                message += f", and {len(values)} values by position"
            if twice:
                message += f"; given both by position and by name: {', '.join(twice)}"
            if self.telemetry.strict:
                raise LabelError(message)
            self.telemetry.label_errors.labels(f"job:{self.model.name}").inc()
        return tuple(merged.get(name, "") for name in self._attrs)

    def _bind(self, key: tuple[object, ...]) -> _Binding:
        attrs = dict(zip(self._attrs, key, strict=True))
        binding = _Binding({name: str(value) for name, value in attrs.items()})
        clean = True
        outcome = self.model.outcome_label

        def child(role: str, extra: dict[str, object] | None = None) -> Any:
            nonlocal clean
            instrument = self._instruments.get(role)
            if instrument is None:
                return None
            values = {**attrs, **(extra or {})}
            resolved, ok = instrument.resolve(tuple(values[name] for name in instrument.names))
            clean = clean and ok
            return resolved

        binding.enqueued = adder(child("enqueued"))
        binding.started = adder(child("started"))
        binding.retried = adder(child("retried"))
        binding.queue_wait = observer(child("queue_wait"))
        binding.depth = adder(child("queue_depth"))
        binding.in_flight = adder(child("in_flight"))
        binding.done_success = adder(child("completed", {outcome: self.model.success}))
        binding.done_failure = adder(child("completed", {outcome: self.model.failure}))
        binding.duration_success = observer(child("duration", {outcome: self.model.success}))
        binding.duration_failure = observer(child("duration", {outcome: self.model.failure}))
        binding.start_more = not (binding.in_flight is binding.started is binding.queue_wait is None)
        if clean:
            with self._lock:
                self._bindings[key] = binding
        return binding


class _Run(ContextDecorator):
    """``tracker.run(...)``: enqueue and start a job on entry, record success or failure on exit."""

    __slots__ = ("_attributes", "_job", "_job_id", "_tracker", "_values")

    def __init__(
        self,
        tracker: JobTracker,
        job_id: str | None,
        values: tuple[object, ...],
        attributes: dict[str, object],
    ) -> None:
        self._tracker = tracker
        self._job_id = job_id
        self._values = values
        self._attributes = attributes
        self._job: Job | None = None

    def _recreate_cm(self) -> _Run:
        # used as a decorator: a new job per call
        return _Run(self._tracker, self._job_id, self._values, self._attributes)

    def __enter__(self) -> Job:
        job = self._job = self._tracker.enqueue(self._job_id, *self._values, **self._attributes)
        job.start()
        return job

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        job = self._job
        if job is None:
            return
        if exc is not None:
            job.fail(exc)
        else:
            job.succeed()
