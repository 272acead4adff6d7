"""The status service: the store, the health checks and heartbeats, the SLO readings — as one async API."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobpulse.spec.model import Spec
from jobpulse.spec.wire_status import StatusPage
from jobpulse.status.components import ComponentState, DayBar, component_states, overall_indicator, uptime_bars
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
    ) -> None:
        if spec.status_page is None:
            raise ValueError(f"{spec.path} has no `status_page` section")
        self.spec = spec
        self.page: StatusPage = spec.status_page
        self.store = storage if isinstance(storage, StatusStore) else StatusStore.open(storage, self.page)
        self.checker = checker
        self.heartbeats = heartbeats
        names = {n for c in self.page.components for n in c.slos}
        self.slos = PrometheusSLOs([s for s in spec.slos if s.name in names], prometheus_url)

    def close(self) -> None:
        self.store.close()

    # -- writes ---------------------------------------------------------------------------------------
    async def deliver(self, payload: WebhookPayload) -> DeliveryResult:
        return await asyncio.to_thread(self.store.apply_alertmanager, payload)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run a store method in a worker thread."""
        return await asyncio.to_thread(getattr(self.store, method), *args, **kwargs)

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

    async def snapshot(self, *, history_limit: int = 100) -> Snapshot:
        now = time.time()
        since = now - self.page.history_days * 86400.0
        checks, workers, slos = await asyncio.gather(self._checks(), self._workers(), self.slos.readings())
        unresolved, history, overlapping, maintenances = await asyncio.to_thread(self._read, since, now, history_limit)
        states = component_states(
            self.page, checks=checks, live_workers=workers, incidents=unresolved, maintenances=maintenances, now=now
        )
        bars = {
            c.name: uptime_bars(c, overlapping, maintenances, days=self.page.history_days, now=now)
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
    ) -> tuple[list[Incident], list[Incident], list[Incident], list[Maintenance]]:
        return (
            self.store.unresolved(),
            self.store.history(since, limit),
            self.store.overlapping(since, now),
            self.store.maintenances(since),
        )
