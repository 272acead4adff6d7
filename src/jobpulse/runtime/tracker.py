"""The job tracker: enqueue → start → succeed/fail, retries and requeues, kept consistent.

Every job attempt is counted once: a second ``succeed()`` is ignored, queue depth never goes negative
(only a queued attempt leaves the queue), and an exception inside ``with tracker.run(...)`` or a
``@tracker.track`` function is recorded as a failure before it propagates.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

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


class _Binding:
    """Pre-resolved prometheus_client children for one combination of job attributes."""

    __slots__ = (
        "depth",
        "done_failure",
        "done_success",
        "duration_failure",
        "duration_success",
        "enqueued",
        "in_flight",
        "queue_wait",
        "retried",
        "started",
    )

    def __init__(self) -> None:
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


class Job:
    """One job: its attributes, state and the time its current attempt was enqueued and started."""

    __slots__ = ("_b", "_tracker", "attempts", "attributes", "enqueued_at", "id", "started_at", "state")

    def __init__(self, tracker: JobTracker, job_id: str, attributes: dict[str, str], binding: _Binding, now: float):
        self._tracker = tracker
        self._b = binding
        self.id = job_id
        self.attributes = attributes
        self.state: State = QUEUED
        self.enqueued_at = now
        self.started_at: float | None = None
        self.attempts = 1

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
        now = self._tracker.clock()
        self.state = RUNNING
        self.started_at = now
        if b.depth is not None:
            b.depth.dec()
        if b.in_flight is not None:
            b.in_flight.inc()
        if b.started is not None:
            b.started.inc()
        if b.queue_wait is not None:
            b.queue_wait.observe((now - self.enqueued_at) * self._tracker.queue_wait_scale)
        return True

    def succeed(self) -> bool:
        """Record success; returns False (and records nothing) if this attempt had already finished."""
        return self._finish(True)

    def fail(self, error: BaseException | None = None) -> bool:
        """Record failure; returns False (and records nothing) if this attempt had already finished."""
        return self._finish(False)

    def _finish(self, ok: bool) -> bool:
        state = self.state
        if state is SUCCEEDED or state is FAILED:
            return False
        b = self._b
        tracker = self._tracker
        now = tracker.clock()
        if state is QUEUED:
            if b.depth is not None:
                b.depth.dec()
        elif b.in_flight is not None:
            b.in_flight.dec()
        self.state = SUCCEEDED if ok else FAILED
        done = b.done_success if ok else b.done_failure
        if done is not None:
            done.inc()
        duration = b.duration_success if ok else b.duration_failure
        if duration is not None:
            since = self.started_at if tracker.from_start and self.started_at is not None else self.enqueued_at
            duration.observe((now - since) * tracker.duration_scale)
        tracker._forget(self)
        return True

    def retry(self) -> bool:
        """The running attempt failed and goes back to the queue as a new attempt."""
        if self.state is not RUNNING:
            return False
        b = self._b
        if b.in_flight is not None:
            b.in_flight.dec()
        if b.retried is not None:
            b.retried.inc()
        self._enter_queue(count=self._tracker.model.retries_count_as_enqueued)
        return True

    def requeue(self) -> None:
        """Manually put the job back in the queue as a new attempt (e.g. a refresh endpoint)."""
        b = self._b
        if self.state is RUNNING and b.in_flight is not None:
            b.in_flight.dec()
        if self.state is QUEUED:
            # still waiting: a new attempt replaces the old one, depth unchanged
            if b.enqueued is not None:
                b.enqueued.inc()
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
            b.enqueued.inc()
        if b.depth is not None:
            b.depth.inc()

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
        self._bindings: dict[tuple[object, ...], _Binding] = {}
        self._live: dict[str, Job] = {}
        self._lock = threading.Lock()
        roles = model.roles()
        self._instruments: dict[str, Instrument] = {role: telemetry.metric(m.name) for role, m in roles.items()}

    # -- explicit calls -------------------------------------------------------------------------------
    def enqueue(self, job_id: str | None = None, **attributes: object) -> Job:
        """A new job enters the queue (one attempt counted)."""
        try:
            key = tuple([attributes[name] for name in self._attrs])
        except KeyError:
            key = self._check_attributes(attributes)
        if len(attributes) != len(self._attrs):
            key = self._check_attributes(attributes)
        binding = self._bindings.get(key)
        if binding is None:
            binding = self._bind(key)
        job = Job(self, job_id or uuid.uuid4().hex, dict(zip(self._attrs, map(str, key), strict=True)), binding, self.clock())
        if binding.enqueued is not None:
            binding.enqueued.inc()
        if binding.depth is not None:
            binding.depth.inc()
        self._live[job.id] = job
        return job

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
    @contextmanager
    def run(self, job_id: str | None = None, **attributes: object) -> Iterator[Job]:
        """Enqueue and run a job inline; an exception inside the block records a failure and propagates."""
        job = self.enqueue(job_id, **attributes)
        with job:
            yield job

    def track(self, **attributes: object) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function (sync or async) so each call is one tracked job."""

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    with self.run(**attributes):
                        return await func(*args, **kwargs)  # type: ignore[misc]

                return run_async  # type: ignore[return-value]

            @functools.wraps(func)
            def run_sync(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.run(**attributes):
                    return func(*args, **kwargs)

            return run_sync

        return decorate

    # -- internals ------------------------------------------------------------------------------------
    def _forget(self, job: Job) -> None:
        self._live.pop(job.id, None)

    def _remember(self, job: Job) -> None:
        self._live[job.id] = job

    def _check_attributes(self, attributes: dict[str, object]) -> tuple[object, ...]:
        from jobpulse.runtime.metrics import LabelError

        expected = set(self._attrs)
        given = set(attributes)
        if given != expected:
            message = (
                f"job {self.model.name!r} takes attributes ({', '.join(self._attrs) or 'none'}), "
                f"got ({', '.join(sorted(given)) or 'none'})"
            )
            if self.telemetry.strict:
                raise LabelError(message)
            self.telemetry.label_errors.labels(f"job:{self.model.name}").inc()
        return tuple(attributes.get(name, "") for name in self._attrs)

    def _bind(self, key: tuple[object, ...]) -> _Binding:
        attrs = dict(zip(self._attrs, key, strict=True))
        binding = _Binding()
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

        binding.enqueued = child("enqueued")
        binding.started = child("started")
        binding.retried = child("retried")
        binding.queue_wait = child("queue_wait")
        binding.depth = child("queue_depth")
        binding.in_flight = child("in_flight")
        binding.done_success = child("completed", {outcome: self.model.success})
        binding.done_failure = child("completed", {outcome: self.model.failure})
        binding.duration_success = child("duration", {outcome: self.model.success})
        binding.duration_failure = child("duration", {outcome: self.model.failure})
        if clean:
            with self._lock:
                self._bindings[key] = binding
        return binding
