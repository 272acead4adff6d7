"""A synthetic client for the platform API: organizations publishing posts and asking for AI generations.

``run_workload`` sends ``rate_per_second`` requests a second (each in its own task, so a slow API does
not slow the rate down): mostly new posts and AI generations, some reads of earlier posts, and now and
then the health and worker endpoints, as a load balancer and an operator would.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass

import anyio
import httpx

__all__ = ["WorkloadStats", "run_workload"]

API = "/api/v1"
ORGS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
USERS_PER_ORG = 5
#: request mix: (kind, weight)
MIX = (("post", 4), ("generation", 3), ("read", 2), ("health", 1))


@dataclass
class WorkloadStats:
    """What the workload sent and what came back."""

    posts: int = 0  # posts accepted (202)
    generations: int = 0  # generations accepted (202)
    reads: int = 0  # posts read (200)
    health_checks: int = 0  # health/worker endpoint calls answered
    server_errors: int = 0  # 5xx responses (a probe's 503 is an answer: not ready, no live worker)
    errors: int = 0  # transport errors and other unexpected responses
    skipped: int = 0  # ticks without a request because too many were in flight

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Driver:
    def __init__(self, base_url: str, client: httpx.AsyncClient, rng: random.Random, max_in_flight: int) -> None:
        self.base = base_url.rstrip("/")
        self.client = client
        self.rng = rng
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.stats = WorkloadStats()
        self.post_ids: list[int] = []

    def _who(self) -> tuple[str, str]:
        org = self.rng.choice(ORGS)
        return org, f"{org}-user-{self.rng.randrange(USERS_PER_ORG)}"

    async def _send(self, method: str, path: str, probe: bool = False, **kwargs: object) -> httpx.Response | None:
        """The response, or None when the request failed; a probe's 503 (not ready, no live worker) is an answer,
        not a server error."""
        self.in_flight += 1
        try:
            response = await self.client.request(method, self.base + path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            self.stats.errors += 1
            return None
        finally:
            self.in_flight -= 1
        if response.status_code >= 500 and not (probe and response.status_code == 503):
            self.stats.server_errors += 1
        return response

    async def post(self) -> None:
        org, author = self._who()
        body = {"org": org, "author": author, "body": f"Update #{self.rng.randrange(10_000)} from {org}"}
        response = await self._send("POST", API + "/posts", json=body)
        if response is not None and response.status_code == 202:
            self.stats.posts += 1
            self.post_ids.append(int(response.json()["post_id"]))
            del self.post_ids[:-500]

    async def generation(self) -> None:
        org, author = self._who()
        body = {"org": org, "author": author, "prompt": "Write a launch post for our new feature"}
        response = await self._send("POST", API + "/generations", json=body)
        if response is not None and response.status_code == 202:
            self.stats.generations += 1

    async def read(self) -> None:
        if not self.post_ids:
            return await self.post()
        response = await self._send("GET", f"{API}/posts/{self.rng.choice(self.post_ids)}")
        if response is not None and response.status_code == 200:
            self.stats.reads += 1
        return None

    async def health(self) -> None:
        path = self.rng.choice(
            (API + "/health", API + "/health/ready", API + "/health/detailed", API + "/workers/health")
        )
        response = await self._send("GET", path, probe=True)
        if response is not None and response.status_code in (200, 503):
            self.stats.health_checks += 1


async def run_workload(
    base_url: str,
    *,
    stop: anyio.Event | asyncio.Event,
    rate_per_second: float = 5.0,
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
    rng = random.Random(seed)
    driver = _Driver(base_url, http, rng, max_in_flight)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    actions = {"post": driver.post, "generation": driver.generation, "read": driver.read, "health": driver.health}
    interval = 1.0 / rate_per_second
    try:
        async with anyio.create_task_group() as tg:
            next_tick = anyio.current_time()
            while not stop.is_set():
                now = anyio.current_time()
                if driver.in_flight < driver.max_in_flight:
                    tg.start_soon(actions[rng.choices(kinds, weights)[0]])
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
