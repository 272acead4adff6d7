"""Queue depth and the oldest waiting job's age, read from the broker by one collector on an interval.

    from jobpulse.runtime.queues import QueueState
    state = QueueState("redis://127.0.0.1:6379/0", celery=["celery", "renders"], rq=["default"],
                       registry=registry).start()          # a daemon thread refreshes every 15 s
    ...
    state.stop()

Needs redis-py (``pip install 'jobpulse[celery]'`` or ``'jobpulse[rq]'``). One refresh is two pipelined
round trips to Redis for *all* queues (lengths and oldest entries, then the RQ jobs' enqueue times),
whatever the number of queues and however often Prometheus scrapes: scrapes read the gauges, never the
broker. Metrics (default names; ``names=`` maps a role onto another metric, e.g. one of the spec's):

- ``jobpulse_queue_depth{queue}`` — messages waiting. A Celery queue is its Redis list plus its priority
  sub-queues (``name\\x06\\x163``, ``\\x06\\x166``, ``\\x06\\x169`` with kombu's default priority steps);
  an RQ queue is ``rq:queue:<name>``;
- ``jobpulse_queue_oldest_age_seconds{queue}`` — how long the oldest waiting message has waited: a
  Celery message's ``jobpulse_published_at`` header (stamped by
  :mod:`jobpulse.integrations.celery`; 0 when it has none), an RQ job's ``enqueued_at``; 0 when empty;
- ``jobpulse_queue_jobs{queue,state}`` — RQ registries: ``started``, ``scheduled``, ``deferred``,
  ``failed``, ``finished`` (live entries only: expired ones are not counted);
- ``jobpulse_queue_refresh_duration_seconds`` (histogram) and ``jobpulse_queue_refresh_errors_total``;
- ``jobpulse_redis_up`` — 1 after a refresh that reached Redis, 0 after one that did not.

A failed refresh leaves the depth and age gauges at their last values (and says so through
``jobpulse_redis_up`` and the error counter); it never raises into the application.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from jobpulse.runtime._client_internals import label_names, registered

__all__ = [
    "CELERY_PRIORITY_SEP",
    "CELERY_PRIORITY_STEPS",
    "DEFAULT_NAMES",
    "RQ_STATES",
    "UNKNOWN",
    "Attributes",
    "QueueSnapshot",
    "QueueState",
    "TaskInfo",
    "celery_queue_keys",
    "default_attributes",
    "error_class",
    "instrumentation_errors",
]

LOGGER = logging.getLogger("jobpulse.queues")
CELERY_PRIORITY_SEP = "\x06\x16"
CELERY_PRIORITY_STEPS = (0, 3, 6, 9)
PUBLISHED_AT = "jobpulse_published_at"
#: RQ registry → its key template (rq 2.x/3.x)
RQ_REGISTRIES = {
    "started": "rq:wip:{0}",
    "scheduled": "rq:scheduled:{0}",
    "deferred": "rq:deferred:{0}",
    "failed": "rq:failed:{0}",
    "finished": "rq:finished:{0}",
}
RQ_STATES = tuple(RQ_REGISTRIES)
#: registries scored by expiry time: only entries not yet expired are counted
_EXPIRING = frozenset({"started", "failed", "finished"})
UNKNOWN = "unknown"
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
REFRESH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DEFAULT_NAMES: dict[str, str] = {
    "depth": "jobpulse_queue_depth",
    "oldest_age": "jobpulse_queue_oldest_age_seconds",
    "jobs": "jobpulse_queue_jobs",
    "refresh_duration": "jobpulse_queue_refresh_duration_seconds",
    "refresh_errors": "jobpulse_queue_refresh_errors",
    "redis_up": "jobpulse_redis_up",
}


def celery_queue_keys(
    queue: str, steps: Sequence[int] = CELERY_PRIORITY_STEPS, sep: str = CELERY_PRIORITY_SEP
) -> list[str]:
    """The Redis lists kombu keeps for a Celery queue: the queue itself and one per priority step."""
    return [queue if step == 0 else f"{queue}{sep}{step}" for step in steps] or [queue]


def _published_at(raw: bytes | str | None) -> float | None:
    """The publish time stamped in a Celery message's headers, if any (validated: a finite float)."""
    if raw is None:
        return None
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    headers = message.get("headers") if isinstance(message, dict) else None
    stamp = headers.get(PUBLISHED_AT) if isinstance(headers, dict) else None
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float, str)):
        return None
    try:
        value = float(stamp)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _rq_time(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class TaskInfo:
    """What an ``attributes`` function sees of a task: its name, queue and arguments."""

    name: str
    queue: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Attributes = Mapping[str, object] | Callable[[TaskInfo], Mapping[str, object]] | None


def error_class(exc: BaseException | type[BaseException] | None) -> str:
    """The exception's class name (never its message): a bounded label value."""
    if exc is None:
        return UNKNOWN
    name = (exc if isinstance(exc, type) else type(exc)).__name__
    return name if _CLASS_NAME.fullmatch(name) else UNKNOWN


def default_attributes(names: tuple[str, ...], given: Mapping[str, object], info: TaskInfo) -> dict[str, object]:
    """Fill the job's attributes: ``given`` first, then ``task``/``task_name`` (the task's name),
    ``queue``/``queue_name`` (its queue), then a keyword argument of the same name, else ``unknown``."""
    out: dict[str, object] = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        elif name in ("task", "task_name"):
            out[name] = info.name
        elif name in ("queue", "queue_name"):
            out[name] = info.queue
        elif name in info.kwargs:
            out[name] = info.kwargs[name]
        else:
            out[name] = UNKNOWN
    return out


_ERRORS_COUNTERS: dict[int, Any] = {}
_ERRORS_LOCK = threading.Lock()


def instrumentation_errors(registry: CollectorRegistry | None) -> Any:
    """``jobpulse_instrumentation_errors_total{integration}`` in ``registry`` (one per registry), or None."""
    if registry is None:
        return None
    with _ERRORS_LOCK:
        counter = _ERRORS_COUNTERS.get(id(registry))
        if counter is None:
            try:
                counter = Counter(
                    "jobpulse_instrumentation_errors",
                    "Instrumentation handlers that failed (the error was logged at debug level and dropped).",
                    ["integration"],
                    registry=registry,
                )
            except ValueError:  # registered before by a registry-sharing caller
                counter = registered(registry, "jobpulse_instrumentation_errors")
            _ERRORS_COUNTERS[id(registry)] = counter
        return counter


@dataclass(frozen=True)
class QueueSnapshot:
    """One queue after a refresh."""

    queue: str
    kind: str  # "celery" or "rq"
    depth: int
    oldest_age: float  # seconds; 0 when empty or unknown
    jobs: Mapping[str, int]  # RQ registry counts by state (empty for Celery)


class QueueState:
    """Reads the queues' state from Redis, on :meth:`refresh` or every ``interval`` seconds (:meth:`start`)."""

    def __init__(
        self,
        redis: Any,
        *,
        celery: Iterable[str] = (),
        rq: Iterable[str] = (),
        interval: float = 15.0,
        registry: CollectorRegistry | None = REGISTRY,
        telemetry: Any = None,
        names: Mapping[str, str] | None = None,
        queue_label: str = "queue",
        labels: Mapping[str, str] | None = None,
        priority_steps: Sequence[int] = CELERY_PRIORITY_STEPS,
        clock: Callable[[], float] = time.time,
        timeout: float = 2.0,
    ) -> None:
        if isinstance(redis, str):
            from jobpulse.runtime.redis_client import sync_client

            redis = sync_client(redis, timeout=timeout)
        self.client = redis
        self.celery = list(dict.fromkeys(celery))
        self.rq = list(dict.fromkeys(rq))
        if not self.celery and not self.rq:
            raise ValueError("name at least one queue: celery=[...] or rq=[...]")
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.clock = clock
        self.priority_steps = tuple(priority_steps)
        self.queue_label = queue_label
        self.static = dict(labels or {})
        self.names = {**DEFAULT_NAMES, **(names or {})}
        self.snapshots: dict[str, QueueSnapshot] = {}
        self.last_error: str | None = None
        self._telemetry = telemetry
        self._registry = registry
        self._metrics = {role: self._metric(role) for role in DEFAULT_NAMES if role != "jobs" or self.rq}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- metrics --------------------------------------------------------------------------------------
    def _metric(self, role: str) -> Any:
        name = self.names[role]
        if self._telemetry is not None and name in self._telemetry.spec.metrics:
            return self._telemetry.metric(name)  # a catalogue instrument: labels bounded by the spec
        queue = [self.queue_label]
        static = list(self.static)
        labels = {
            "depth": queue + static,
            "oldest_age": queue + static,
            "jobs": [*queue, "state", *static],
            "refresh_duration": static,
            "refresh_errors": static,
            "redis_up": static,
        }[role]
        help_text = {
            "depth": "Messages waiting in the queue (read from the broker on an interval).",
            "oldest_age": "Seconds the oldest waiting message has waited (0 when the queue is empty).",
            "jobs": "RQ jobs in each registry of the queue.",
            "refresh_duration": "Time one refresh of every queue's state took (all queues, one collector).",
            "refresh_errors": "Refreshes of the queues' state that failed.",
            "redis_up": "1 if the last refresh reached Redis, else 0.",
        }[role]
        if role == "refresh_duration":
            return Histogram(name, help_text, labels, buckets=REFRESH_BUCKETS, registry=self._registry)
        if role == "refresh_errors":
            return Counter(name, help_text, labels, registry=self._registry)
        return Gauge(name, help_text, labels, registry=self._registry)

    def _child(self, role: str, **values: str) -> Any:
        metric = self._metrics[role]
        merged = {**self.static, **values}
        names = metric.names if hasattr(metric, "names") else label_names(metric)
        if not names:
            return metric if not hasattr(metric, "names") else metric.labels()
        return metric.labels(**{name: merged.get(name, "") for name in names})

    # -- refresh --------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read every queue now (two pipelined round trips); False if Redis could not be read."""
        with self._lock:
            started = time.perf_counter()
            try:
                snapshots = self._read()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                LOGGER.debug("queue state refresh failed", exc_info=True)
                self._safe(lambda: self._child("refresh_errors").inc())
                self._safe(lambda: self._child("redis_up").set(0))
                self._safe(lambda: self._child("refresh_duration").observe(time.perf_counter() - started))
                return False
            self.last_error = None
            self.snapshots = snapshots
            self._safe(lambda: self._publish(snapshots))
            self._safe(lambda: self._child("redis_up").set(1))
            self._safe(lambda: self._child("refresh_duration").observe(time.perf_counter() - started))
            return True

    @staticmethod
    def _safe(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception:
            LOGGER.debug("queue state metric update failed", exc_info=True)

    def _read(self) -> dict[str, QueueSnapshot]:
        now = self.clock()
        pipe = self.client.pipeline(transaction=False)
        celery_keys = {queue: celery_queue_keys(queue, self.priority_steps) for queue in self.celery}
        for keys in celery_keys.values():
            for key in keys:
                pipe.llen(key)
                pipe.lindex(key, -1)  # kombu LPUSHes and BRPOPs: the oldest message is at the right end
        for queue in self.rq:
            pipe.llen(f"rq:queue:{queue}")
            pipe.lindex(f"rq:queue:{queue}", 0)  # RQ RPUSHes and LPOPs: the oldest job is at the left end
            for state, template in RQ_REGISTRIES.items():
                key = template.format(queue)
                if state in _EXPIRING:
                    pipe.zcount(key, now, "+inf")
                else:
                    pipe.zcard(key)
        replies = iter(pipe.execute())
        out: dict[str, QueueSnapshot] = {}
        for queue, keys in celery_keys.items():
            depth = 0
            oldest: float | None = None
            for _ in keys:
                length, tail = int(next(replies)), next(replies)
                depth += length
                stamp = _published_at(tail) if length else None
                if stamp is not None:
                    oldest = stamp if oldest is None else min(oldest, stamp)
            age = max(0.0, now - oldest) if oldest is not None else 0.0
            out[queue] = QueueSnapshot(queue, "celery", depth, age, {})
        heads: dict[str, str] = {}
        rq_raw: dict[str, tuple[int, dict[str, int]]] = {}
        for queue in self.rq:
            length, head = int(next(replies)), next(replies)
            jobs = {state: int(next(replies)) for state in RQ_REGISTRIES}
            rq_raw[queue] = (length, jobs)
            if length and head is not None:
                heads[queue] = head.decode() if isinstance(head, bytes) else str(head)
        enqueued: dict[str, float | None] = {}
        if heads:
            pipe = self.client.pipeline(transaction=False)
            for job_id in heads.values():
                pipe.hget(f"rq:job:{job_id}", "enqueued_at")
            enqueued = {queue: _rq_time(raw) for queue, raw in zip(heads, pipe.execute(), strict=True)}
        for queue, (length, jobs) in rq_raw.items():
            stamp = enqueued.get(queue)
            age = max(0.0, now - stamp) if stamp is not None else 0.0
            out[queue] = QueueSnapshot(queue, "rq", length, age, {"queued": length, **jobs})
        return out

    def _publish(self, snapshots: Mapping[str, QueueSnapshot]) -> None:
        label = self.queue_label
        for snap in snapshots.values():
            self._child("depth", **{label: snap.queue}).set(snap.depth)
            self._child("oldest_age", **{label: snap.queue}).set(snap.oldest_age)
            if snap.kind == "rq" and "jobs" in self._metrics:
                for state, count in snap.jobs.items():
                    self._child("jobs", **{label: snap.queue, "state": state}).set(count)

    # -- background refresh ---------------------------------------------------------------------------
    def start(self) -> QueueState:
        """Refresh now and then every ``interval`` seconds on a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jobpulse-queue-state", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.refresh()
            if self._stop.wait(self.interval):
                return

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background refresh (safe to call more than once)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> QueueState:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
