"""A pure-ASGI ``/metrics`` app: Prometheus text or OpenMetrics, rendered off the event loop."""

from __future__ import annotations

import gzip
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class MetricsApp:
    """Serve a registry. With ``token``, requests need ``Authorization: Bearer <token>``."""

    def __init__(self, registry: CollectorRegistry, *, token: str | None = None) -> None:
        self.registry = registry
        self._token = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        if self._token is not None and not hmac.compare_digest(headers.get(b"authorization", b""), self._token):
            await _plain(send, 401, b"unauthorized\n", [(b"www-authenticate", b'Bearer realm="metrics"')])
            return
        accept = headers.get(b"accept", b"").decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        body: bytes = await anyio.to_thread.run_sync(encoder, self.registry)
        response_headers = [(b"content-type", content_type.encode())]
        if b"gzip" in headers.get(b"accept-encoding", b""):
            body = await anyio.to_thread.run_sync(gzip.compress, body)
            response_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
