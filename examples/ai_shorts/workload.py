"""A synthetic client for the AI shorts API: users creating jobs and batches, and polling them.

``run_workload`` sends one request per tick at ``rate_per_second``: mostly single jobs of a random type
from one of ``users`` users (``X-User-ID``), now and then a batch, a poll of a job it created, a
``/health`` probe or a request to a path that does not exist (which the HTTP metrics group under one
``__unmatched__`` route). Every request gets its own task, so a slow API does not slow the rate down.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import httpx

__all__ = ["WorkloadStats", "run_workload"]

API = "/api/v1"
JOB_TYPES = ("script", "voiceover", "video", "thumbnail")
#: A small pool of prompts, so the prompt cache has something to hit.
PROMPTS = tuple(f"{subject} {action}" for subject in ("a cat", "a robot", "a chef") for action in ("dances", "cooks"))


@dataclass
class WorkloadStats:
    """What the workload did and saw."""

    jobs: int = 0  # jobs the API accepted (alone or in batches)
    batches: int = 0
    polls: int = 0
    probes: int = 0  # /health
    not_found: int = 0  # deliberate requests to unknown paths
    errors: int = 0  # transport errors and unexpected responses
    skipped: int = 0  # ticks without a request because too many were in flight
    trace_ids: int = 0  # responses that carried an X-Trace-ID header

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Driver:
    def __init__(self, base_url: str, client: httpx.AsyncClient, rng: random.Random, users: int) -> None:
        self.base = base_url.rstrip("/")
        self.client = client
        self.rng = rng
        self.users = [f"user_{n:03d}" for n in range(users)]
        self.stats = WorkloadStats()
        self.in_flight = 0
        self.created: list[str] = []  # recent job ids, to poll

    async def request(self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> httpx.Response | None:
        self.in_flight += 1
        try:
            response = await self.client.request(method, self.base + path, **kwargs)
        except httpx.HTTPError:
            self.stats.errors += 1
            return None
        finally:
            self.in_flight -= 1
        if "x-trace-id" in response.headers:
            self.stats.trace_ids += 1
        if response.status_code not in ok:
            self.stats.errors += 1
            return None
        return response

    def headers(self) -> dict[str, str]:
        return {"x-user-id": self.rng.choice(self.users)}

    async def create_job(self) -> None:
        body = {"job_type": self.rng.choice(JOB_TYPES), "prompt": self.rng.choice(PROMPTS)}
        response = await self.request("POST", f"{API}/jobs", (202,), json=body, headers=self.headers())
        if response is not None:
            self.stats.jobs += 1
            self.remember([response.json()["job_id"]])

    async def create_batch(self) -> None:
        prompts = [self.rng.choice(PROMPTS) for _ in range(self.rng.randint(3, 8))]
        body = {"job_type": self.rng.choice(JOB_TYPES), "prompts": prompts}
        response = await self.request("POST", f"{API}/batches", (202,), json=body, headers=self.headers())
        if response is not None:
            self.stats.batches += 1
            job_ids = response.json()["job_ids"]
            self.stats.jobs += len(job_ids)
            self.remember(job_ids)

    async def poll(self) -> None:
        if not self.created:
            return
        if await self.request("GET", f"{API}/jobs/{self.rng.choice(self.created)}", (200,)) is not None:
            self.stats.polls += 1

    async def probe(self) -> None:
        if await self.request("GET", "/health", (200,)) is not None:
            self.stats.probes += 1

    async def lost(self) -> None:
        path = f"/wp-login-{self.rng.getrandbits(32):x}.php"  # scanners: every path different
        if await self.request("GET", path, (404,)) is not None:
            self.stats.not_found += 1

    def remember(self, job_ids: list[str]) -> None:
        self.created.extend(job_ids)
        del self.created[:-200]

    def next_action(self) -> Any:
        roll = self.rng.random()
        if roll < 0.55:
            return self.create_job
        if roll < 0.62:
            return self.create_batch
        if roll < 0.9:
            return self.poll
        if roll < 0.97:
            return self.probe
        return self.lost


async def run_workload(
    base_url: str,
    *,
    stop: anyio.Event | asyncio.Event,
    rate_per_second: float = 5.0,
    users: int = 25,
    client: httpx.AsyncClient | None = None,
    max_in_flight: int = 64,
    seed: int | None = None,
    drain_timeout: float = 5.0,
) -> WorkloadStats:
    """Drive ``base_url`` until ``stop`` is set; requests still in flight then get ``drain_timeout``."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=10.0, trust_env=False)
    driver = _Driver(base_url, http, random.Random(seed), users)
    interval = 1.0 / rate_per_second
    try:
        async with anyio.create_task_group() as tg:
            next_tick = anyio.current_time()
            while not stop.is_set():
                now = anyio.current_time()
                if driver.in_flight < max_in_flight:
                    tg.start_soon(driver.next_action())
                else:
                    driver.stats.skipped += 1
                next_tick = max(next_tick + interval, now)
                with anyio.move_on_after(next_tick - now):
                    await stop.wait()
            tg.cancel_scope.deadline = anyio.current_time() + drain_timeout
    finally:
        if own_client:
            await http.aclose()
    return driver.stats
