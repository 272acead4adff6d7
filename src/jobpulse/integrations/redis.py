"""Redis for health checks and worker heartbeats. Needs ``pip install 'jobpulse[redis]'`` (redis-py >= 5).

Clients made here fail fast: no retries, connect and socket timeouts bounded, so a dead Redis turns a
check red within its timeout instead of stalling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobpulse.extras import require
from jobpulse.runtime.health import Check, url_secrets

__all__ = ["RedisCheck", "async_client", "require_redis", "sync_client"]


def require_redis() -> Any:
    """The ``redis`` module, or :class:`~jobpulse.extras.MissingExtra` saying how to install it."""
    return require("redis", extra="redis", feature="jobpulse's Redis support")


def _options(timeout: float, *, asyncio: bool) -> dict[str, Any]:
    """Fail-fast client options. An asyncio client gets ``redis.asyncio.retry.Retry``: redis-py 8 converts a
    synchronous ``Retry`` handed to an asyncio client, with a warning, and older releases misuse it."""
    backoff = require("redis.backoff", extra="redis", feature="jobpulse's Redis support")
    retry = require("redis.asyncio.retry" if asyncio else "redis.retry", extra="redis")
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": retry.Retry(backoff.NoBackoff(), 0),
        "health_check_interval": 0,
    }


def async_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` that fails fast (no retries, bounded timeouts)."""
    client = require("redis.asyncio", extra="redis", feature="jobpulse's Redis support")
    return client.Redis.from_url(url, **_options(timeout, asyncio=True))


def sync_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.Redis`` for ``url`` that fails fast (no retries, bounded timeouts)."""
    redis = require_redis()
    return redis.Redis.from_url(url, **_options(timeout, asyncio=False))


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
