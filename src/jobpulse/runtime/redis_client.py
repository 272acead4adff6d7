"""Redis clients that fail fast, for worker heartbeats, queue state and the Redis health check.

Needs ``pip install 'jobpulse[redis]'`` (redis-py >= 5). Clients made here never retry and have bounded
connect and socket timeouts, so a dead Redis turns a check red, or skips a heartbeat, within its timeout
instead of stalling it. :mod:`jobpulse.integrations.redis` re-exports these for applications.
"""

from __future__ import annotations

from typing import Any

from jobpulse.extras import require

__all__ = ["async_client", "require_redis", "sync_client"]

_FEATURE = "jobpulse's Redis support"


def require_redis() -> Any:
    """The ``redis`` module, or :class:`~jobpulse.extras.MissingExtra` saying how to install it."""
    return require("redis", extra="redis", feature=_FEATURE)


def _options(timeout: float, *, asyncio: bool) -> dict[str, Any]:
    """Fail-fast client options. An asyncio client gets ``redis.asyncio.retry.Retry``: redis-py 8 converts a
    synchronous ``Retry`` handed to an asyncio client, with a warning, and older releases misuse it."""
    backoff = require("redis.backoff", extra="redis", feature=_FEATURE)
    retry = require("redis.asyncio.retry" if asyncio else "redis.retry", extra="redis")
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": retry.Retry(backoff.NoBackoff(), 0),
        "health_check_interval": 0,
    }


def async_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` that fails fast (no retries, bounded timeouts)."""
    client = require("redis.asyncio", extra="redis", feature=_FEATURE)
    return client.Redis.from_url(url, **_options(timeout, asyncio=True))


def sync_client(url: str, *, timeout: float = 2.0) -> Any:
    """A ``redis.Redis`` for ``url`` that fails fast (no retries, bounded timeouts)."""
    redis = require_redis()
    return redis.Redis.from_url(url, **_options(timeout, asyncio=False))
