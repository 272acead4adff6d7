"""The job tracker: enqueue → start → succeed/fail, retries and requeues, kept consistent.

Every job attempt is counted once: a second ``succeed()`` is ignored, queue depth never goes negative
(only a queued attempt leaves the queue), and an exception inside ``with tracker.run(...)`` or a
``@tracker.track`` function is recorded as a failure before it propagates.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ContextDecorator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from jobpulse.runtime._client_internals import adder, observer
from jobpulse.runtime.job import (
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Binding,
    Job,
    State,
    current_origin,
    new_job_id,
)
from jobpulse.runtime.labels import OTHER, LabelError, key_getter, label_texts
from jobpulse.runtime.track import warn_unset
from jobpulse.spec.model import Job as JobModel

if TYPE_CHECKING:
    from jobpulse.runtime.metrics import Instrument, Telemetry

__all__ = ["FAILED", "QUEUED", "RUNNING", "SUCCEEDED", "Job", "JobTracker", "State", "new_job_id"]

P = ParamSpec("P")
R = TypeVar("R")

_new_job = object.__new__
#: Unfinished jobs a tracker keeps for :meth:`JobTracker.get` by default (about 1 kB each).
MAX_LIVE = 50_000
#: Attribute combinations whose bindings are cached (an attribute that no metric bounds could otherwise grow it).
MAX_BINDINGS = 10_000


class JobTracker:
    """Tracks jobs of one lifecycle declared in the spec, updating the metrics it names."""

    def __init__(
        self,
        telemetry: Telemetry,
        model: JobModel,
        *,
        clock: Callable[[], float] = time.time,
        max_live: int | None = MAX_LIVE,
        max_age: float | None = None,
    ) -> None:
        """``max_live`` and ``max_age`` (seconds since a job was enqueued or started) bound the table of unfinished
        jobs that :meth:`get` reads: past them the oldest are evicted (see :meth:`_evict`); ``None`` for no bound."""
        if max_live is not None and max_live < 1:
            raise ValueError(f"max_live must be at least 1, not {max_live}")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be a positive number of seconds, not {max_age}")
        self.telemetry = telemetry
        self.model = model
        self.clock = clock
        self.from_start = model.duration_from == "start"
        self.duration_scale = model.duration.unit_scale if model.duration else 1.0
        self.queue_wait_scale = model.queue_wait.unit_scale if model.queue_wait else 1.0
        self._attrs = model.attributes
        self._n_attrs = len(model.attributes)
        self._key = key_getter(model.attributes)
        self._bindings: dict[tuple[object, ...], Binding] = {}
        self._shared_bindings: dict[tuple[tuple[object, ...], bool], Binding] = {}
        self._live: dict[str, Job] = {}
        self._max_live = max_live if max_live is not None else sys.maxsize
        self._max_age = max_age
        self._sweep_every = max(max_age / 10, 1.0) if max_age is not None else math.inf
        self._sweep_at = clock() + self._sweep_every
        # made on the first eviction: a labelled child made here would create a multiprocess file in every
        # process that builds a tracker (a Celery worker's main process, which runs no job)
        self._evicted: Any = None
        self._lock = threading.Lock()
        roles = model.roles()
        self._instruments: dict[str, Instrument] = {role: telemetry.metric(m.name) for role, m in roles.items()}
        # the rollout track, for the job's metrics that declare its label without it being an attribute;
        # bound into each attribute combination's children once (_bind), so jobs pay nothing for it
        track = telemetry.track
        wanting = [m.name for m in roles.values() if track.label in m.label_names and track.label not in self._attrs]
        self._track_values: dict[str, object] = {track.label: track.value} if wanting else {}
        warn_unset(track, f"job {model.name!r}", wanting)

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
        try:
            binding = self._bindings.get(key)
        except Exception:  # an unhashable value (or one whose __hash__/__eq__ raises): _bind counts it as overflow
            binding = None
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
        job.origin = current_origin()
        job._ctx_token = None
        if (enqueued := binding.enqueued) is not None:
            enqueued(1)
        if (depth := binding.depth) is not None:
            depth(1)
        live = self._live
        live[job_id] = job
        if len(live) > self._max_live or job.enqueued_at >= self._sweep_at:
            self._bound()
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
        job.origin = current_origin()
        job._ctx_token = None
        return job

    def _shared_binding(self, key: tuple[object, ...], wait: bool) -> Binding:
        texts = label_texts(key)
        cached = self._shared_bindings.get((texts, wait))
        if cached is not None:
            return cached
        local = self._bindings.get(texts)
        clean = local is not None
        if local is None:
            local = self._bind(key)
            clean = texts in self._bindings
        shared = Binding(local.attributes)
        for slot in Binding.__slots__:
            setattr(shared, slot, getattr(local, slot))
        shared.depth = None
        shared.attached = shared._detached = None
        if not wait:
            shared.queue_wait = None
        shared.start_more = not (shared.in_flight is shared.started is shared.queue_wait is None)
        if clean and len(self._shared_bindings) < MAX_BINDINGS:
            with self._lock:
                self._shared_bindings[texts, wait] = shared
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
        _drop(self._live, job)

    def _remember(self, job: Job) -> None:
        if job._b.attached is not None:  # evicted, now requeued: its gauges count it again
            job._b = binding = job._b.attached
            if job.state is QUEUED and binding.depth is not None:
                binding.depth(1)
            elif job.state is RUNNING and binding.in_flight is not None:
                binding.in_flight(1)
        self._live[job.id] = job
        if len(self._live) > self._max_live:
            self._bound()

    def _bound(self) -> None:
        """Evict the oldest unfinished jobs past ``max_live``, and those idle longer than ``max_age``."""
        live = self._live
        # Other threads add and finish jobs meanwhile (without this lock): take a snapshot to sweep (list() of a
        # dict view does not let another thread in), and tolerate a job gone between two reads.
        with self._lock:
            now = self.clock()
            if now >= self._sweep_at and self._max_age is not None:
                self._sweep_at = now + self._sweep_every
                oldest = now - self._max_age
                for job in list(live.values()):
                    if max(job.enqueued_at, job.started_at or 0.0) < oldest:
                        self._evict(job)
            while len(live) > self._max_live:
                try:
                    job = live[next(iter(live))]
                except (KeyError, StopIteration, RuntimeError):  # finished by another thread meanwhile
                    continue
                self._evict(job)

    def _evict(self, job: Job) -> None:
        """Drop ``job`` from the table: it no longer counts in the queue-depth and in-flight gauges, and
        ``jobpulse_tracker_evicted_jobs_total{job}`` counts it. Whoever still holds the job can finish it: its
        outcome and duration are recorded, the gauges are not touched twice (it keeps a detached binding)."""
        _drop(self._live, job)
        binding = job._b
        if binding.attached is not None or job.finished:  # evicted before, or finished by another thread meanwhile
            return
        if job.state is QUEUED and binding.depth is not None:
            binding.depth(-1)
        elif job.state is RUNNING and binding.in_flight is not None:
            binding.in_flight(-1)
        job._b = binding.detached()
        if self._evicted is None:
            self._evicted = self.telemetry.evicted_jobs.labels(self.model.name)
        self._evicted.inc()

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

    def _bind(self, key: tuple[object, ...]) -> Binding:
        """The binding for these attribute values, cached by their text (see ``Instrument.resolve``)."""
        texts = label_texts(key)
        cached = self._bindings.get(texts)
        if cached is not None:
            return cached
        attrs = dict(zip(self._attrs, key, strict=True))
        binding = Binding({name: OTHER if t is None else t for name, t in zip(self._attrs, texts, strict=True)})
        clean = True
        outcome = self.model.outcome_label

        def child(role: str, extra: dict[str, object] | None = None) -> Any:
            nonlocal clean
            instrument = self._instruments.get(role)
            if instrument is None:
                return None
            values = {**self._track_values, **attrs, **(extra or {})}
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
        if clean and None not in texts and len(self._bindings) < MAX_BINDINGS:
            with self._lock:
                self._bindings[texts] = binding
        return binding


def _drop(live: dict[str, Job], job: Job) -> None:
    """Remove ``job`` from ``live`` if it is there under its id (a newer job may hold the id; another thread
    may have removed it meanwhile)."""
    if live.get(job.id) is job:
        live.pop(job.id, None)


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
