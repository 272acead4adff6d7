"""The reading side: :class:`HeartbeatMonitor` lists live workers and exports when each was last seen."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from jobpulse.redaction import url_secrets
from jobpulse.runtime.heartbeat.record import (
    KEY_PREFIX,
    LOGGER,
    METRIC_NAME,
    WORKER_ID,
    WorkerHeartbeat,
    glob_escape,
    valid_worker_id,
)
from jobpulse.runtime.labels import OTHER as OTHER  # the value past max_workers
from jobpulse.runtime.labels import LabelBudget
from jobpulse.runtime.redis_client import async_client, require_redis


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
        async for key in redis.scan_iter(match=glob_escape(self.prefix) + "*", count=200):
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
