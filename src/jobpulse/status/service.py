"""The status service: the store, the health checks and heartbeats, the SLO readings — as one async API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobpulse.spec.model import Spec
from jobpulse.spec.wire_status import StatusPage
from jobpulse.status.components import (
    ComponentState,
    DayBar,
    component_states,
    health_states,
    overall_indicator,
    uptime_bars,
)
from jobpulse.status.model import Incident, Maintenance
from jobpulse.status.slos import PrometheusSLOs, SLOReading
from jobpulse.status.store import DeliveryResult, StatusStore
from jobpulse.status.webhook import WebhookPayload

__all__ = ["Snapshot", "StatusService"]

LOGGER = logging.getLogger("jobpulse.status")


@dataclass(frozen=True)
class Snapshot:
    """Everything one rendering of the page needs, read at ``now``."""

    page: StatusPage
    service: str
    now: float
    components: list[ComponentState]
    indicator: tuple[str, str]
    unresolved: list[Incident]
    history: list[Incident]
    maintenances: list[Maintenance]
    bars: dict[str, list[DayBar]]
    slos: dict[str, SLOReading]


class StatusService:
    """Reads and writes the status page's data.

    Health checks and heartbeats are optional (``checker``: a ``jobpulse.runtime.health.HealthChecker``,
    ``heartbeats``: a ``HeartbeatMonitor``) and may be set after construction.
    """

    def __init__(
        self,
        spec: Spec,
        storage: str | Path | StatusStore,
        *,
        checker: Any = None,
        heartbeats: Any = None,
        prometheus_url: str | None = None,
        slo_cache_seconds: float = 30.0,
        cache_seconds: float = 1.0,
    ) -> None:
        if spec.status_page is None:
            raise ValueError(f"{spec.path} has no `status_page` section")
        self.spec = spec
        self.page: StatusPage = spec.status_page
        self.store = storage if isinstance(storage, StatusStore) else StatusStore.open(storage, self.page)
        self.checker = checker
        self.heartbeats = heartbeats
        self.cache_seconds = cache_seconds
        self._cache: dict[int, tuple[float, Snapshot]] = {}
        self._generation = 0
        self._background: asyncio.Task[None] | None = None
        names = {n for c in self.page.components for n in c.slos}
        self.slos = PrometheusSLOs([s for s in spec.slos if s.name in names], prometheus_url, ttl=slo_cache_seconds)

    def close(self) -> None:
        self.store.close()

    def read_slos_from(self, prometheus_url: str | None) -> None:
        """Read SLO attainment from this Prometheus from now on (e.g. once it has started)."""
        self.slos.url = prometheus_url.rstrip("/") if prometheus_url else None
        self.slos.clear()
        self._changed()

    # -- writes ---------------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def deliver(self, payload: WebhookPayload) -> DeliveryResult:
        try:
            return await asyncio.to_thread(self.store.apply_alertmanager, payload)
        finally:
            self._changed()

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run a store method (a write) in a worker thread."""
        try:
            return await asyncio.to_thread(getattr(self.store, method), *args, **kwargs)
        finally:
            self._changed()

    # -- reads ----------------------------------------------------------------------------------------
    async def _checks(self) -> list[Any] | None:
        if self.checker is None:
            return None
        try:
            results: list[Any] = await self.checker.results()
        except Exception:
            LOGGER.warning("health checks failed", exc_info=True)
            return None
        return results

    async def _workers(self) -> int | None:
        if self.heartbeats is None or not any(c.min_workers for c in self.page.components):
            return None
        try:
            return len(await self.heartbeats.workers())
        except Exception:  # Redis down: the heartbeats say nothing (the Redis check reports the outage)
            LOGGER.warning("reading worker heartbeats failed", exc_info=True)
            return None

    # -- health history -------------------------------------------------------------------------------
    async def record_health(self) -> int:
        """Store the components' status from checks and heartbeats where it changed (for the uptime bars)."""
        if self.checker is None and self.heartbeats is None:
            return 0
        checks, workers = await asyncio.gather(self._checks(), self._workers())
        if checks is None and workers is None:
            return 0  # nothing could be read: say nothing rather than "operational"
        states = health_states(self.page, checks=checks, live_workers=workers)
        changed: int = await asyncio.to_thread(self.store.record_health, states)
        if changed:
            self._changed()
        return changed

    async def start(self, interval: float = 15.0) -> None:
        """Record health changes every ``interval`` seconds in a background task (call from your lifespan)."""
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._record_forever(max(interval, 0.05)))

    async def stop(self) -> None:
        task, self._background = self._background, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _record_forever(self, every: float) -> None:
        while True:
            try:
                await self.record_health()
            except Exception:  # storage away for a moment: try again next interval
                LOGGER.warning("recording component health failed", exc_info=True)
            await asyncio.sleep(every)

    async def snapshot(self, *, history_limit: int = 100) -> Snapshot:
        """The page's state now; reused for ``cache_seconds`` (writes through this service clear it), so a
        crowd of readers costs at most one read of the storage per interval."""
        cached = self._cache.get(history_limit)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        generation = self._generation
        snapshot = await self._snapshot(history_limit)
        if generation == self._generation:  # no write happened meanwhile
            self._cache[history_limit] = (time.monotonic(), snapshot)
        return snapshot

    async def _snapshot(self, history_limit: int) -> Snapshot:
        now = time.time()
        since = now - self.page.history_days * 86400.0
        checks, workers, slos = await asyncio.gather(self._checks(), self._workers(), self.slos.readings())
        unresolved, history, overlapping, maintenances, health = await asyncio.to_thread(
            self._read, since, now, history_limit
        )
        states = component_states(
            self.page, checks=checks, live_workers=workers, incidents=unresolved, maintenances=maintenances, now=now
        )
        bars = {
            c.name: uptime_bars(
                c, overlapping, maintenances, days=self.page.history_days, now=now, health=health.get(c.name, [])
            )
            for c in self.page.components
        }
        return Snapshot(
            page=self.page,
            service=self.spec.service.title,
            now=now,
            components=states,
            indicator=overall_indicator(states, unresolved),
            unresolved=unresolved,
            history=history,
            maintenances=[m for m in maintenances if m.status(now) != "completed"],
            bars=bars,
            slos=slos,
        )

    def _read(
        self, since: float, now: float, limit: int
    ) -> tuple[list[Incident], list[Incident], list[Incident], list[Maintenance], dict[str, list[tuple[float, str]]]]:
        return (
            self.store.unresolved(),
            self.store.history(since, limit) if limit > 0 else [],
            self.store.overlapping(since, now),
            self.store.maintenances(since),
            self.store.health_events(since),
        )
