"""Serve an ASGI app with uvicorn inside the running event loop, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from jobpulse.extras import require

require("uvicorn", extra="demo", feature="jobpulse demo")
import uvicorn  # noqa: E402

__all__ = ["AppServer"]

LOOPBACK = "127.0.0.1"


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: whoever runs the loop decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits on startup failures; keep that inside the task
        raise RuntimeError(f"uvicorn stopped during startup (exit code {exc.code})") from None


class AppServer:
    """``await AppServer(app).start()`` … ``await server.stop()``; binds before serving, so the port is
    known (and any bind error raised) before the first request."""

    def __init__(self, app: Any, *, port: int = 0, graceful_timeout: int = 5) -> None:
        self.app = app
        self.requested_port = port
        self.graceful_timeout = graceful_timeout
        self.port: int | None = None
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("AppServer not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def start(self, timeout: float = 60.0) -> AppServer:
        """Serve on the requested port; ``timeout`` covers the app's lifespan startup too (render_pipeline starts its
        Celery workers there, which takes seconds on a busy machine)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, self.requested_port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host=LOOPBACK,
            port=self.port,
            lifespan="on",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self.graceful_timeout,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(_serve(self._server, sock), name="uvicorn")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error
                raise RuntimeError("uvicorn stopped before it started serving")
            if loop.time() >= deadline:
                await self.stop()
                raise TimeoutError(f"uvicorn did not start within {timeout}s")
            await asyncio.sleep(0.02)
        return self

    async def restart(self, timeout: float = 60.0) -> AppServer:
        """Serve the app again on the same port (after :meth:`stop`): its scrape target comes back."""
        if self.port is not None:
            self.requested_port = self.port
        return await self.start(timeout)

    async def stop(self) -> None:
        """Graceful shutdown (connections, then the app's lifespan), forced after a timeout."""
        task, server = self._task, self._server
        try:
            if task is not None and server is not None and not task.done():
                server.should_exit = True
                done, _ = await asyncio.wait({task}, timeout=self.graceful_timeout + 5)
                if not done:
                    server.force_exit = True
                    done, _ = await asyncio.wait({task}, timeout=5)
                if not done:
                    task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            self._task = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None
