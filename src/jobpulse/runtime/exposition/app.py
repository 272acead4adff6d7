"""A pure-ASGI ``/metrics`` app: Prometheus text or OpenMetrics, rendered off the event loop."""

from __future__ import annotations

import threading
import zlib
from typing import Any

import anyio.to_thread

from jobpulse.asgi import Message, Receive, Scope, Send
from jobpulse.asgi import lifespan as _lifespan
from jobpulse.runtime.bearer import BearerToken
from jobpulse.runtime.exposition.negotiate import Format, gzip_accepted, name_filter, negotiate
from jobpulse.runtime.exposition.render import Renderer

__all__ = ["GZIP_LEVEL", "Message", "MetricsApp", "Receive", "Scope", "Send"]

#: zlib level for gzip responses. Measured on a 3.4 MB scrape (benchmarks/bench_exposition.py, docs/benchmarks.md):
#: level 1 compresses it about 12x faster than level 9 (prometheus_client's, via gzip.compress) for a body about
#: 1.5x larger, still a 20th of the text.
GZIP_LEVEL = 1


class MetricsApp:
    """Serve a registry. With ``token``, requests need ``Authorization: Bearer <token>``.

    ``token=None`` means no authentication; an empty (or blank) token is a configuration mistake — usually an
    unset environment variable — and raises ``ValueError`` here rather than serving ``/metrics`` to anyone.
    ``gzip_level`` (0 to 9) is the compression level used when the scraper accepts gzip.
    ``release_gil_every`` (seconds, ``None`` for never): how often the rendering thread lets the event loop take
    the GIL (``pacing.py``).
    """

    def __init__(
        self,
        registry: Any,
        *,
        token: str | None = None,
        gzip_level: int = GZIP_LEVEL,
        release_gil_every: float | None = 0.0005,
    ) -> None:
        self._token = (
            BearerToken(token, what="MetricsApp: the metrics token", env="METRICS_TOKEN") if token is not None else None
        )
        if not 0 <= gzip_level <= 9:
            raise ValueError(f"MetricsApp: gzip_level must be between 0 and 9, not {gzip_level}")
        self.registry = registry
        self.renderer = Renderer(registry, release_gil_every=release_gil_every)
        self.gzip_level = gzip_level
        self._gzip_lock = threading.Lock()
        self._last_gzip: tuple[bytes, bytes] = (b"", b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", []):
            headers[key.lower()] = value
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        if self._token is not None and not self._token.allows(headers.get(b"authorization", b"")):
            await _plain(send, 401, b"unauthorized\n", [(b"www-authenticate", b'Bearer realm="metrics"')])
            return
        try:
            names = name_filter(scope.get("query_string", b""))
        except ValueError as exc:
            await _plain(send, 400, f"{exc}\n".encode(), [])
            return
        fmt = negotiate(headers.get(b"accept", b"").decode("latin-1"))
        compress = self.gzip_level > 0 and gzip_accepted(headers.get(b"accept-encoding", b"").decode("latin-1"))
        body: bytes = await anyio.to_thread.run_sync(self._body, fmt, names, compress)
        response_headers = [(b"content-type", fmt.content_type.encode())]
        if compress:
            response_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"vary", b"Accept, Accept-Encoding"))
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    def _body(self, fmt: Format, names: frozenset[str] | None, compress: bool) -> bytes:
        """Render (in a worker thread), then gzip if asked; an unchanged body reuses the last compressed one."""
        body = self.renderer.render(fmt, names)
        if not compress:
            return body
        with self._gzip_lock:
            last_body, last_gzip = self._last_gzip
            if body == last_body:
                return last_gzip
        # zlib releases the GIL while it compresses: the event loop runs meanwhile
        compressed = zlib.compress(body, self.gzip_level, wbits=31)
        with self._gzip_lock:
            self._last_gzip = (body, compressed)
        return compressed


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
