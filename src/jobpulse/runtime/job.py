"""One job and its lifecycle: queued → running → succeeded/failed, with retries and requeues.

A :class:`Job` is made by a :class:`~jobpulse.runtime.tracker.JobTracker`; its lifecycle methods update the
prometheus_client values the tracker bound for its attributes (a :class:`Binding`) and are the hot path
measured by ``benchmarks/bench_tracker.py``.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Literal

from jobpulse.runtime import context as _context

if TYPE_CHECKING:
    from jobpulse.runtime.tracker import JobTracker


State = Literal["queued", "running", "succeeded", "failed"]
QUEUED: State = "queued"
RUNNING: State = "running"
SUCCEEDED: State = "succeeded"
FAILED: State = "failed"
current_origin = _context._current.get  # the request context a job is enqueued in (None outside requests)


def enter_origin(origin: _context.RequestContext, job_id: str) -> object:
    """Run the job under the context it was enqueued in: its log lines carry the request's trace id."""
    return _context._current.set(origin.copy(span_id=_context.new_span_id(), job_id=job_id))


def leave_origin(token: object) -> None:
    # finished in another thread or task than it started in: that context is not ours to reset
    with contextlib.suppress(ValueError):
        _context._current.reset(token)  # type: ignore[arg-type]


def new_job_id() -> str:
    """A random id exactly like ``uuid.uuid4().hex`` (version 4, RFC 4122 variant), at a third of its cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


class Binding:
    """Pre-resolved prometheus_client children for one combination of job attributes."""

    __slots__ = (
        "_detached",
        "attached",
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
        self.attached: Binding | None = None  # set on a detached copy: the binding it was detached from
        self._detached: Binding | None = None

    def detached(self) -> Binding:
        """This binding without the queue-depth and in-flight gauges (for a job the tracker evicted), made once."""
        copy = self._detached
        if copy is None:
            copy = Binding(self.attributes)
            for slot in Binding.__slots__:
                setattr(copy, slot, getattr(self, slot))
            copy.depth = copy.in_flight = None
            copy.start_more = not (copy.started is copy.queue_wait is None)
            copy.attached, copy._detached = self, None
            self._detached = copy
        return copy


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
        binding: Binding,
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
        self.origin: _context.RequestContext | None = current_origin()
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
            self._ctx_token = enter_origin(origin, self.id)
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
            leave_origin(token)
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
            live.pop(self.id, None)  # not `del`: another thread may have evicted it meanwhile
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
            leave_origin(token)

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
            live.pop(self.id, None)  # not `del`: another thread may have evicted it meanwhile
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
            if b.attached is not None:  # evicted while it waited: back in the table and the depth
                self._tracker._remember(self)
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
