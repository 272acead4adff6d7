"""A synthetic client for the preview-jobs API: steady job creation, polling and refreshes.

``run_workload`` POSTs jobs at ``rate_per_second`` (each request in its own task, so a slow inline
backend does not slow the rate down), polls a couple of outstanding jobs per tick and, now and then,
refreshes a job it saw fail — which exercises the refresh endpoint and the retry accounting.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import httpx

__all__ = ["WorkloadStats", "run_workload"]

API = "/api/v1/developers/preview-jobs"
DEFAULT_SCENARIOS = ("blog-post", "landing-page", "docs-site")
REFRESH = float("-inf")  # marks a pending job to refresh rather than poll


@dataclass
class WorkloadStats:
    """What the workload did and saw (outcomes are only those it observed)."""

    created: int = 0  # jobs the API accepted
    ready: int = 0  # attempts observed ready
    failed: int = 0  # attempts observed failed
    refreshed: int = 0  # refreshes the API accepted
    polls: int = 0
    skipped: int = 0  # ticks without a POST because too many requests were in flight
    errors: int = 0  # transport errors and unexpected responses

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Driver:
    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        refresh_failed: bool,
        refresh_probability: float,
        rng: random.Random,
        max_in_flight: int,
        max_tracked: int = 200,
    ) -> None:
        self.api = base_url.rstrip("/") + API
        self.client = client
        self.refresh_failed = refresh_failed
        self.refresh_probability = refresh_probability
        self.rng = rng
        self.max_in_flight = max_in_flight
        self.max_tracked = max_tracked
        self.stats = WorkloadStats()
        self.in_flight = 0
        self.pending: dict[str, float] = {}  # job id -> when it was last looked at (oldest first)
        self.seen: dict[str, int] = {}  # job id -> last attempt whose outcome was counted

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        self.in_flight += 1
        try:
            return await self.client.request(method, url, **kwargs)
        except httpx.HTTPError:
            self.stats.errors += 1
            return None
        finally:
            self.in_flight -= 1

    def _observe(self, body: dict[str, Any]) -> None:
        job_id, status, attempt = body.get("job_id"), body.get("status"), int(body.get("attempts", 1))
        if not isinstance(job_id, str):
            return
        if status in ("queued", "running"):
            self.pending.setdefault(job_id, anyio.current_time())
            while len(self.pending) > self.max_tracked:
                self.pending.pop(next(iter(self.pending)))
            return
        self.pending.pop(job_id, None)
        if self.seen.get(job_id) == attempt:
            return
        self.seen[job_id] = attempt
        if status == "ready":
            self.stats.ready += 1
        elif status == "failed":
            self.stats.failed += 1
            if self.refresh_failed and self.rng.random() < self.refresh_probability:
                self.pending[job_id] = REFRESH  # refresh it on the next tick

    def _json(self, response: httpx.Response | None, ok: tuple[int, ...]) -> dict[str, Any] | None:
        if response is None:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code not in ok or not isinstance(body, dict) or "job_id" not in body:
            self.stats.errors += 1
            return None
        return body

    async def create(self, scenario: str) -> None:
        # 202 from the worker backend; 200/500 (ready/failed) from the inline backend
        body = self._json(await self._request("POST", self.api, json={"scenario": scenario}), (200, 202, 500))
        if body is not None:
            self.stats.created += 1
            self._observe(body)

    def take(self, now: float, count: int, min_age: float = 0.5) -> tuple[list[str], list[str]]:
        """Up to ``count`` jobs due for a look: (to poll, to refresh); polled ones go to the back."""
        due = [job_id for job_id, last in self.pending.items() if now - last >= min_age][:count]
        polls = [job_id for job_id in due if self.pending[job_id] != REFRESH]
        refreshes = [job_id for job_id in due if self.pending[job_id] == REFRESH]
        for job_id in polls:
            del self.pending[job_id]
            self.pending[job_id] = now
        for job_id in refreshes:
            del self.pending[job_id]
        return polls, refreshes

    async def poll(self, job_id: str) -> None:
        body = self._json(await self._request("GET", f"{self.api}/{job_id}"), (200,))
        if body is not None:
            self.stats.polls += 1
            self._observe(body)

    async def refresh(self, job_id: str) -> None:
        body = self._json(await self._request("POST", f"{self.api}/{job_id}/refresh"), (200, 202, 500))
        if body is not None:
            self.stats.refreshed += 1
            self._observe(body)


async def run_workload(
    base_url: str,
    *,
    stop: anyio.Event | asyncio.Event,
    rate_per_second: float = 5.0,
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS,
    refresh_failed: bool = True,
    client: httpx.AsyncClient | None = None,
    polls_per_tick: int = 2,
    refresh_probability: float = 0.5,
    max_in_flight: int = 64,
    seed: int | None = None,
    drain_timeout: float = 5.0,
) -> WorkloadStats:
    """Drive ``base_url`` until ``stop`` is set; requests still in flight then get ``drain_timeout``."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    if not scenarios:
        raise ValueError("scenarios must not be empty")
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=10.0, trust_env=False)
    rng = random.Random(seed)
    driver = _Driver(
        base_url,
        http,
        refresh_failed=refresh_failed,
        refresh_probability=refresh_probability,
        rng=rng,
        max_in_flight=max_in_flight,
    )
    interval = 1.0 / rate_per_second
    try:
        async with anyio.create_task_group() as tg:
            next_tick = anyio.current_time()
            while not stop.is_set():
                now = anyio.current_time()
                if driver.in_flight < driver.max_in_flight:
                    tg.start_soon(driver.create, rng.choice(scenarios))
                else:
                    driver.stats.skipped += 1
                polls, refreshes = driver.take(now, polls_per_tick)
                for job_id in polls:
                    tg.start_soon(driver.poll, job_id)
                for job_id in refreshes:
                    tg.start_soon(driver.refresh, job_id)
                next_tick = max(next_tick + interval, now)
                with anyio.move_on_after(next_tick - now):
                    await stop.wait()
            tg.cancel_scope.deadline = anyio.current_time() + drain_timeout
    finally:
        if own_client:
            await http.aclose()
    return driver.stats
