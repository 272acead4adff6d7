"""A synthetic client for Prompter: prompts (many of them repeats, so deduplication shows), result reads,
and a few bad requests.

Per tick, one request: 80% ``POST /v1/prompts`` with a prompt drawn from a pool of 150 (repeats hit the
unique constraint) and a provider drawn from the three; 10% ``GET /v1/results/<id>`` of a known result;
5% a prompt without text (422); 5% a result that does not exist (404). ``rate_per_second`` ticks a
second until ``stop`` is set.

:func:`warm_up` sends every prompt of the pool once: a freshly deployed track (``jobpulse demo --scenario
good-canary``) has then stored each result and cached each version, like the track it is compared with.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass

import anyio
import httpx

__all__ = ["PROMPTS", "WorkloadStats", "run_workload", "warm_up"]

PROVIDERS = ("openai", "openai", "google", "anthropic")
TOPICS = ("brand tone", "product launch", "support reply", "release notes", "ad copy", "summary")
CUSTOMERS = 25
#: the pool the workload draws its prompts from
PROMPTS = tuple(f"Write a {topic} for customer #{n}" for topic in TOPICS for n in range(CUSTOMERS))


@dataclass
class WorkloadStats:
    created: int = 0  # 201: a new result
    deduplicated: int = 0  # 200: the result was already there
    provider_errors: int = 0  # 503
    reads: int = 0  # 200 on GET /v1/results/<id>
    client_errors: int = 0  # the 4xx the workload asked for
    errors: int = 0  # transport errors and unexpected statuses

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def run_workload(
    base_url: str,
    *,
    stop: anyio.Event | asyncio.Event,
    rate_per_second: float = 5.0,
    client: httpx.AsyncClient | None = None,
    seed: int | None = None,
    max_requests: int | None = None,
) -> WorkloadStats:
    """Drive ``base_url`` until ``stop`` is set (or ``max_requests`` have been sent)."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    rng = random.Random(seed)
    stats = WorkloadStats()
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0, trust_env=False)
    base = base_url.rstrip("/")
    known: list[int] = []
    sent = 0

    async def one() -> None:
        roll = rng.random()
        try:
            if roll < 0.80:
                prompt = f"Write a {rng.choice(TOPICS)} for customer #{rng.randrange(CUSTOMERS)}"
                body = {"prompt": prompt, "provider": rng.choice(PROVIDERS)}
                response = await http.post(f"{base}/v1/prompts", json=body)
                if response.status_code in (200, 201):
                    known.append(int(response.json()["result_id"]))
                    del known[:-200]
                    if response.status_code == 201:
                        stats.created += 1
                    else:
                        stats.deduplicated += 1
                    return
                if response.status_code == 503:
                    stats.provider_errors += 1
                    return
            elif roll < 0.90 and known:
                response = await http.get(f"{base}/v1/results/{rng.choice(known)}")
                if response.status_code == 200:
                    stats.reads += 1
                    return
            elif roll < 0.95:
                response = await http.post(f"{base}/v1/prompts", json={"prompt": "", "provider": "openai"})
                if response.status_code == 422:
                    stats.client_errors += 1
                    return
            else:
                response = await http.get(f"{base}/v1/results/{10**9 + rng.randrange(1000)}")
                if response.status_code == 404:
                    stats.client_errors += 1
                    return
            stats.errors += 1
        except httpx.HTTPError:
            stats.errors += 1

    try:
        async with anyio.create_task_group() as group:
            while not stop.is_set() and (max_requests is None or sent < max_requests):
                group.start_soon(one)
                sent += 1
                with anyio.move_on_after(1.0 / rate_per_second):
                    await stop.wait()
    finally:
        if own:
            await http.aclose()
    return stats


async def warm_up(base_url: str, *, client: httpx.AsyncClient | None = None, concurrency: int = 16) -> int:
    """Send each prompt of :data:`PROMPTS` once (``concurrency`` at a time); returns how many were answered."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0, trust_env=False)
    base = base_url.rstrip("/")
    limit = anyio.Semaphore(concurrency)
    answered = 0

    async def one(index: int, prompt: str) -> None:
        nonlocal answered
        async with limit:
            try:
                body = {"prompt": prompt, "provider": PROVIDERS[index % len(PROVIDERS)]}
                response = await http.post(f"{base}/v1/prompts", json=body)
            except httpx.HTTPError:
                return
            answered += response.status_code in (200, 201, 503)

    try:
        async with anyio.create_task_group() as group:
            for index, prompt in enumerate(PROMPTS):
                group.start_soon(one, index, prompt)
    finally:
        if own:
            await http.aclose()
    return answered
