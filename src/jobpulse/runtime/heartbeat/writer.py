"""The worker side: a :class:`Heartbeat` writes the worker's record every interval (a thread or a task)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

from jobpulse.runtime.heartbeat.record import (
    KEY_PREFIX,
    LOGGER,
    WORKER_ID,
    clean_info,
    valid_worker_id,
)
from jobpulse.runtime.labels import OTHER as OTHER  # the value past max_workers
from jobpulse.runtime.redis_client import async_client, require_redis, sync_client

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
            "info": clean_info(info),
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
            async with asyncio.timeout(self._timeout + 1.0):
                await self._async_client().delete(self.key)
        except Exception:
            return False
        finally:
            if self._async is not None and self._client is None:
                client, self._async = self._async, None
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timeout + 1.0):
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
            # bounded: a worker's shutdown never waits on Redis longer than its timeout (a command cancelled
            # mid-reply could leave the close waiting on its connection; CI saw a task hang there once)
            if remove:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timeout + 1.0):
                        await asyncio.shield(self._async_client().delete(self.key))
            if self._async is not None:
                client, self._async = self._async, None
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timeout + 1.0):
                        await client.aclose()
