"""Worker heartbeats in Redis: workers write, the API lists them and exports when each was last seen.

A worker runs a :class:`Heartbeat` (a daemon thread, or an asyncio task with :meth:`Heartbeat.run`) that
writes ``jobpulse:heartbeat:<worker>`` every ``interval`` seconds with a time-to-live of ``ttl`` seconds
(three intervals by default). A worker that stops beating disappears from the listing once its key
expires; one that shuts down cleanly deletes its key at once.

The reading side, :class:`HeartbeatMonitor`, lists live workers for ``/health/workers`` and sets
``worker_last_heartbeat_timestamp_seconds{worker}``. The gauge keeps a worker's last value after its key
expires, so ``time() - worker_last_heartbeat_timestamp_seconds > 300`` finds a silent worker; the
``worker`` label is bounded (``max_workers`` distinct values, then ``__other__``). Workers the monitor is told
to expect (``expected``) are in the gauge from the start, at the time the monitor started: one that never
beats is then as silent as one that stopped, instead of a missing series no alert sees.

Needs ``pip install 'jobpulse[redis]'``. Heartbeat failures are logged and counted, never raised into
the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from jobpulse.redaction import url_secrets
from jobpulse.runtime.labels import OTHER as OTHER  # the value past max_workers
from jobpulse.runtime.labels import LabelBudget
from jobpulse.runtime.redis_client import async_client, require_redis, sync_client

__all__ = [
    "KEY_PREFIX",
    "Heartbeat",
    "HeartbeatMonitor",
    "WorkerHeartbeat",
    "valid_worker_id",
]

LOGGER = logging.getLogger("jobpulse.heartbeat")
KEY_PREFIX = "jobpulse:heartbeat:"
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
INFO_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_INFO_ITEMS = 20
MAX_INFO_VALUE = 200
METRIC_NAME = "worker_last_heartbeat_timestamp_seconds"


def valid_worker_id(worker: str) -> bool:
    """1-128 characters of letters, digits and ``. _ : @ -``, starting with a letter or digit."""
    return bool(WORKER_ID.match(worker))


def _clean_info(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keep a few scalar items with plain keys; long strings are cut (the info is shown on an endpoint)."""
    out: dict[str, Any] = {}
    for key, value in (info or {}).items():
        if len(out) >= MAX_INFO_ITEMS:
            break
        if not isinstance(key, str) or not INFO_KEY.match(key):
            continue
        if isinstance(value, bool) or value is None or isinstance(value, int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = "".join(ch for ch in value[:MAX_INFO_VALUE] if ch.isprintable())
    return out


@dataclass(frozen=True)
class WorkerHeartbeat:
    """One live worker, as read from Redis."""

    worker: str
    last_seen: float  # Unix time of the last beat
    started_at: float | None
    ttl_seconds: float | None  # time left before the key expires
    interval_seconds: float | None
    info: dict[str, Any] = field(default_factory=dict)

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "worker": self.worker,
            "status": "alive",
            "last_heartbeat": round(self.last_seen, 3),
            "age_seconds": round(max(0.0, now - self.last_seen), 3),
            "expires_in_seconds": None if self.ttl_seconds is None else round(self.ttl_seconds, 3),
            "interval_seconds": self.interval_seconds,
            "started_at": None if self.started_at is None else round(self.started_at, 3),
            "info": self.info,
        }

    @classmethod
    def parse(cls, worker: str, raw: bytes | str | None, pttl: int | None) -> WorkerHeartbeat | None:
        """From a stored value; ``None`` when it is missing or not ours."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            last_seen = float(data["ts"])
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(data, dict):
            return None
        started = data.get("started_at")
        interval = data.get("interval")
        info = data.get("info")
        return cls(
            worker=worker,
            last_seen=last_seen,
            started_at=float(started) if isinstance(started, int | float) else None,
            ttl_seconds=pttl / 1000.0 if pttl is not None and pttl >= 0 else None,
            interval_seconds=float(interval) if isinstance(interval, int | float) else None,
            info=_clean_info(info if isinstance(info, dict) else None),
        )


InfoSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


class Heartbeat:
    """Write a worker's heartbeat to Redis every ``interval`` seconds, with a ``ttl`` (default 3 * interval).

    Use as a thread (``with Heartbeat(...):`` or ``start()``/``stop()``) or, in async code, as a task:
    ``asyncio.create_task(heartbeat.run())``. ``info`` (a mapping or a function returning one) adds a few
    scalar fields to each beat, e.g. the number of jobs processed.
    """

    def __init__(
        self,
        worker: str,
        *,
        url: str | None = None,
        client: Any = None,
        interval: float = 10.0,
        ttl: float | None = None,
        prefix: str = KEY_PREFIX,
        info: InfoSource = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 2.0,
    ) -> None:
        require_redis()
        if not valid_worker_id(worker):
            raise ValueError(f"worker id must match {WORKER_ID.pattern}, got {worker[:64]!r}")
        if (url is None) == (client is None):
            raise ValueError("give either `url` or `client`")
        if not interval > 0:
            raise ValueError("interval must be positive")
        ttl = 3 * interval if ttl is None else ttl
        if ttl <= interval:
            raise ValueError("ttl must be longer than interval, or every pause between beats looks like a death")
        self.worker = worker
        self.key = prefix + worker
        self.interval = float(interval)
        self.ttl = float(ttl)
        self.info = info
        self.started_at = clock()
        self._clock = clock
        self._url = url
        self._client = client
        self._timeout = timeout
        self._sync: Any = None
        self._async: Any = None
        self._async_loop: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False
        #: beats written, and beats that failed (Redis down, timeout)
        self.beats = 0
        self.failures = 0

    # -- one beat ----------------------------------------------------------------------------------
    def _payload(self) -> str:
        info: Mapping[str, Any] | None
        try:
            info = self.info() if callable(self.info) else self.info
        except Exception:
            info = None
        payload = {
            "worker": self.worker,
            "ts": self._clock(),
            "started_at": self.started_at,
            "interval": self.interval,
            "pid": os.getpid(),
            "info": _clean_info(info),
        }
        return json.dumps(payload, separators=(",", ":"))

    def _sync_client(self) -> Any:
        if self._client is not None:
            return self._client
        if self._sync is None:
            self._sync = sync_client(self._url or "", timeout=self._timeout)
        return self._sync

    def _async_client(self) -> Any:
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async, self._async_loop = async_client(self._url or "", timeout=self._timeout), loop
        return self._async

    def beat(self) -> bool:
        """Write one heartbeat (blocking). Returns False, without raising, when Redis is unreachable."""
        try:
            self._sync_client().set(self.key, self._payload(), px=max(1, int(self.ttl * 1000)))
        except Exception as exc:
            self._failed(exc)
            return False
        self._ok()
        return True

    async def abeat(self) -> bool:
        """Write one heartbeat with the asyncio client. Returns False, without raising, on failure."""
        try:
            await self._async_client().set(self.key, self._payload(), px=max(1, int(self.ttl * 1000)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            return False
        self._ok()
        return True

    def _ok(self) -> None:
        self.beats += 1
        if self._failing:
            self._failing = False
            LOGGER.info("heartbeat of worker %s is being written again", self.worker)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if not self._failing:  # log the first failure of a streak, not every beat
            self._failing = True
            LOGGER.warning("heartbeat of worker %s could not be written: %s", self.worker, type(exc).__name__)

    # -- the thread --------------------------------------------------------------------------------
    def start(self) -> Self:
        """Beat now and then every ``interval`` seconds in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"jobpulse-heartbeat-{self.worker}", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    def stop(self, *, remove: bool = True) -> None:
        """Stop beating; with ``remove`` (the default) delete the key so the worker disappears at once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self.interval + self._timeout + 1.0)
        if remove:
            with contextlib.suppress(Exception):
                self._sync_client().delete(self.key)
        if self._sync is not None:
            with contextlib.suppress(Exception):
                self._sync.close()
            self._sync = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def aremove(self) -> bool:
        """Delete the heartbeat now (a clean shutdown); False, without raising, when Redis is unreachable."""
        try:
            await self._async_client().delete(self.key)
        except Exception:
            return False
        finally:
            if self._async is not None and self._client is None:
                client, self._async = self._async, None
                with contextlib.suppress(Exception):
                    await client.aclose()
        return True

    # -- the asyncio task --------------------------------------------------------------------------
    async def run(self, *, remove: bool = True) -> None:
        """Beat every ``interval`` seconds until cancelled; then (with ``remove``) delete the key."""
        try:
            while True:
                await self.abeat()
                await asyncio.sleep(self.interval)
        finally:
            if remove:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._async_client().delete(self.key))
            if self._async is not None:
                client, self._async = self._async, None
                with contextlib.suppress(Exception):
                    await client.aclose()


class HeartbeatMonitor:
    """List live workers from Redis and export ``worker_last_heartbeat_timestamp_seconds{worker}``.

    ``metric`` is an object with ``labels(worker=...)`` (a spec instrument from
    ``telemetry["worker_last_heartbeat_timestamp_seconds"]``); without it a gauge is registered in
    ``registry``. Listings are cached for ``cache_seconds`` and shared by concurrent callers.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: Any = None,
        prefix: str = KEY_PREFIX,
        registry: CollectorRegistry | None = REGISTRY,
        metric: Any = None,
        max_workers: int = 100,
        max_listed: int = 1000,
        cache_seconds: float = 1.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        expected: Iterable[str] = (),
        now: Callable[[], float] = time.time,
    ) -> None:
        require_redis()
        if (url is None) == (client is None):
            raise ValueError("give either `url` or `client`")
        expected = tuple(dict.fromkeys(expected))
        bad = [w for w in expected if not valid_worker_id(w)]
        if bad:
            raise ValueError(f"expected worker ids must match {WORKER_ID.pattern}, got {bad[0][:64]!r}")
        #: workers that should be beating; each is in the gauge from the start (see the module's docstring)
        self.expected = expected
        #: the Unix time the monitor started expecting them (the workers' clock: ``now``)
        self.since = now()
        self.now = now
        self._url = url
        self._client = client
        self._own_client: Any = None
        self._loop: Any = None
        self.prefix = prefix
        self.max_workers = max_workers
        self.max_listed = max_listed
        self.cache_seconds = cache_seconds
        self._timeout = timeout
        self._clock = clock
        self._workers = LabelBudget(max_workers)
        self._cached: list[WorkerHeartbeat] | None = None
        self._cached_at = float("-inf")
        self._inflight: asyncio.Task[list[WorkerHeartbeat]] | None = None
        if metric is None and registry is not None:
            metric = Gauge(
                METRIC_NAME,
                "Unix time of each worker's last heartbeat (kept after the heartbeat expires).",
                ["worker"],
                registry=registry,
            )
        self.metric = metric
        for worker in self.expected if self.metric is not None else ():
            with contextlib.suppress(Exception):  # instrumentation never takes the app down
                self.metric.labels(worker=self._workers.bound(worker)).set(self.since)

    def missing(self, beats: Iterable[WorkerHeartbeat]) -> list[str]:
        """Expected workers without a live heartbeat among ``beats``."""
        live = {beat.worker for beat in beats}
        return [worker for worker in self.expected if worker not in live]

    def secrets(self) -> Sequence[str]:
        return url_secrets(self._url) if self._url else ()

    def _redis(self) -> Any:
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        if self._own_client is None or self._loop is not loop:
            self._own_client, self._loop = async_client(self._url or "", timeout=self._timeout), loop
        return self._own_client

    async def workers(self) -> list[WorkerHeartbeat]:
        """Live workers (key not expired), oldest heartbeat first; raises when Redis is unreachable."""
        if self._cached is not None and self._clock() - self._cached_at < self.cache_seconds:
            return self._cached
        task = self._inflight
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._inflight = loop.create_task(self._list())
        return await asyncio.shield(task)

    async def _list(self) -> list[WorkerHeartbeat]:
        redis = self._redis()
        keys: list[bytes] = []
        async for key in redis.scan_iter(match=_glob_escape(self.prefix) + "*", count=200):
            keys.append(key)
            if len(keys) >= self.max_listed:
                break
        beats: list[WorkerHeartbeat] = []
        if keys:
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
            for i, key in enumerate(keys):
                name = (key.decode(errors="replace") if isinstance(key, bytes) else str(key))[len(self.prefix) :]
                if not valid_worker_id(name):
                    continue
                beat = WorkerHeartbeat.parse(name, replies[2 * i], replies[2 * i + 1])
                if beat is not None:
                    beats.append(beat)
        beats.sort(key=lambda b: (b.last_seen, b.worker))
        self._record(beats)
        self._cached, self._cached_at = beats, self._clock()
        return beats

    async def worker(self, worker: str) -> WorkerHeartbeat | None:
        """One worker's heartbeat, or ``None`` when it expired (or never existed)."""
        if not valid_worker_id(worker):
            return None
        redis = self._redis()
        pipe = redis.pipeline(transaction=False)
        pipe.get(self.prefix + worker)
        pipe.pttl(self.prefix + worker)
        raw, pttl = await pipe.execute()
        beat = WorkerHeartbeat.parse(worker, raw, pttl)
        if beat is not None:
            self._record([beat])
        return beat

    def _record(self, beats: list[WorkerHeartbeat]) -> None:
        if self.metric is None:
            return
        for beat in beats:
            try:
                self.metric.labels(worker=self._workers.bound(beat.worker)).set(beat.last_seen)
            except Exception:  # instrumentation never takes the app down
                LOGGER.debug("recording heartbeat metric failed", exc_info=True)

    async def aclose(self) -> None:
        if self._own_client is not None:
            client, self._own_client = self._own_client, None
            with contextlib.suppress(Exception):
                await client.aclose()


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
