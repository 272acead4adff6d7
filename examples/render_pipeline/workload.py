"""A synthetic client for the render pipeline: renders, AR conversions and embed handshakes.

``run_workload`` sends, per tick, one request drawn from the mix (about 60% renders, 15% AR conversions,
25% handshakes; 3% of handshakes carry a bad token, 1% an unknown shop), at ``rate_per_second`` ticks a
second, until ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass

import anyio
import httpx

__all__ = ["WorkloadStats", "run_workload"]

RENDER_TYPES = ("product_2d", "product_3d", "thumbnail")
QUALITIES = ("draft", "standard", "standard", "hd")
CONVERSIONS = ("glb_to_usdz", "usdz_to_glb")
SHOPS = tuple(f"shop-{n}.myshopify.com" for n in range(12))


@dataclass
class WorkloadStats:
    renders: int = 0  # renders the API accepted (202)
    conversions: int = 0  # AR conversions accepted (202)
    handshakes_ok: int = 0
    handshakes_failed: int = 0
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
    http = client or httpx.AsyncClient(timeout=10.0, trust_env=False)
    base = base_url.rstrip("/")
    sent = 0

    async def one() -> None:
        roll = rng.random()
        try:
            if roll < 0.6:
                body = {"render_type": rng.choice(RENDER_TYPES), "quality": rng.choice(QUALITIES)}
                response = await http.post(f"{base}/api/renders", json=body)
                if response.status_code == 202:
                    stats.renders += 1
                    return
            elif roll < 0.75:
                response = await http.post(f"{base}/api/ar/convert", json={"conversion_type": rng.choice(CONVERSIONS)})
                if response.status_code == 202:
                    stats.conversions += 1
                    return
            else:
                shop = rng.choice(SHOPS)
                token = f"tok_{rng.getrandbits(64):016x}"
                fault = rng.random()
                if fault < 0.03:
                    token = "forged"  # noqa: S105 - a bad token on purpose, not a secret
                elif fault < 0.04:
                    shop = "not a shop"
                response = await http.post(f"{base}/api/widget/handshake", json={"shop_domain": shop, "token": token})
                if response.status_code == 200:
                    stats.handshakes_ok += 1
                    return
                if response.status_code == 403:
                    stats.handshakes_failed += 1
                    return
            stats.errors += 1
        except httpx.HTTPError:
            stats.errors += 1

    try:
        async with anyio.create_task_group() as tg:
            interval = 1.0 / rate_per_second
            while not stop.is_set() and (max_requests is None or sent < max_requests):
                tg.start_soon(one)
                sent += 1
                with anyio.move_on_after(interval):
                    await stop.wait()
    finally:
        if own:
            await http.aclose()
    return stats
