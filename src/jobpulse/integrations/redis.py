"""Redis for health checks and worker heartbeats. Needs ``pip install 'jobpulse[redis]'`` (redis-py >= 5).

Clients made here fail fast: no retries, connect and socket timeouts bounded, so a dead Redis turns a
check red within its timeout instead of stalling it (the factory lives in :mod:`jobpulse.runtime.redis_client`,
which the heartbeats and queue state use too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobpulse.redaction import url_secrets
from jobpulse.runtime.health import Check
from jobpulse.runtime.redis_client import async_client, require_redis, sync_client

__all__ = ["RedisCheck", "async_client", "require_redis", "sync_client"]


class RedisCheck(Check):
    """``PING`` Redis. Give ``url`` (a client is made on first use, in the running event loop) or an
    existing ``redis.asyncio.Redis`` as ``client``."""

    def __init__(
        self,
        name: str = "redis",
        *,
        url: str | None = None,
        client: Any = None,
        critical: bool = True,
        timeout: float = 1.0,
    ) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        require_redis()
        if (url is None) == (client is None):
            raise ValueError("give either `url` or `client`")
        self._url = url
        self._client = client
        self._own = client is None
        self._loop: Any = None

    async def probe(self) -> str | None:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._own and (self._client is None or self._loop is not loop):
            # connections belong to an event loop: one client per loop
            self._client, self._loop = async_client(self._url or "", timeout=self.timeout), loop
        if not await self._client.ping():
            raise RuntimeError("PING did not return PONG")
        return "PONG"

    def secrets(self) -> Sequence[str]:
        return url_secrets(self._url) if self._url else ()

    async def aclose(self) -> None:
        if self._own and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
