"""The health endpoints as a pure-ASGI app, mountable under any prefix (see :mod:`jobpulse.runtime.health`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jobpulse.asgi import Receive, Scope, Send, lifespan
from jobpulse.extras import require
from jobpulse.redaction import redact_value, sanitize_message
from jobpulse.runtime.bearer import BearerToken
from jobpulse.runtime.health.checker import CheckResult, HealthChecker, overall

if TYPE_CHECKING:
    from jobpulse.runtime.heartbeat import HeartbeatMonitor

LOGGER = logging.getLogger("jobpulse.health")


Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]
_WORKER_PATH = re.compile(r"^/workers/([^/]+)$")


class HealthApp:
    """The health endpoints. Mount it anywhere; paths are read relative to the mount point.

    ``checker`` may be ``None`` (readiness then only says the process is up); ``heartbeats`` enables
    the worker endpoints. ``start()`` runs the checks in the background every interval so that the
    metrics stay fresh even when nobody probes.

    The workers endpoint says ``ok`` only when at least ``min_workers`` workers (and every worker the monitor
    expects) are beating, ``degraded`` (200) with fewer, ``down`` (503) with none. ``now`` is the workers' clock.

    With ``token``, ``/health/detailed`` and the worker endpoints (dependency messages, worker ids and pids) answer
    401 unless the request carries ``Authorization: Bearer <token>``, as ``/metrics`` does; liveness and readiness
    stay open for probes. An empty token raises ``ValueError`` (``token=None``: no authentication).
    """

    def __init__(
        self,
        checker: HealthChecker | None = None,
        *,
        heartbeats: HeartbeatMonitor | None = None,
        service: str | None = None,
        version: str | None = None,
        min_workers: int = 1,
        now: Callable[[], float] = time.time,
        token: str | None = None,
    ) -> None:
        if min_workers < 0:
            raise ValueError("min_workers must not be negative")
        self._token = (
            None if token is None else BearerToken(token, what="HealthApp: the health token", env="HEALTH_TOKEN")
        )
        self.checker = checker
        self.heartbeats = heartbeats
        self.min_workers = min_workers
        self.now = now
        self.service = service
        self.version = version
        self.started_at = time.time()
        self._background: asyncio.Task[None] | None = None
        self._endpoints: dict[str, Endpoint] = {
            "": self.live,
            "/": self.live,
            "/health": self.live,
            "/ready": self.ready,
            "/health/ready": self.ready,
            "/detailed": self.detailed,
            "/health/detailed": self.detailed,
            "/workers": self.workers,
            "/health/workers": self.workers,
        }

    # -- dispatch ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = _relative_path(scope)
        endpoint = self._endpoints.get(path.rstrip("/") if path not in ("", "/") else path)
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        match = _WORKER_PATH.match(path.removeprefix("/health"))
        if match is not None:
            await self._worker(scope, send, match.group(1))
            return
        await _json(scope, send, 404, {"error": "not found"})

    # -- endpoints (each usable as an ASGI app on an exact route) ------------------------------------
    async def live(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Liveness: never calls a dependency."""
        if not await _allowed(scope, send):
            return
        body: dict[str, Any] = {"status": "ok", "uptime_seconds": round(time.time() - self.started_at, 3)}
        if self.service:
            body["service"] = self.service
        if self.version:
            body["version"] = self.version
        await _json(scope, send, 200, body)

    async def ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Readiness: 503 while a critical dependency is down."""
        if not await _allowed(scope, send):
            return
        try:
            results = await self._results()
        except Exception:
            LOGGER.warning("readiness check failed unexpectedly", exc_info=True)
            await _json(scope, send, 503, {"status": "not_ready", "error": "health check failed"})
            return
        ready, _ = overall(results)
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "checks": {r.name: r.status for r in results},
        }
        failing = [r.name for r in results if not r.up and r.critical]
        if failing:
            body["failing"] = failing
        degraded = [r.name for r in results if not r.up and not r.critical]
        if degraded:
            body["degraded"] = degraded
        await _json(scope, send, 200 if ready else 503, body)

    async def detailed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every dependency with status, latency and a sanitised message."""
        if not await self._private(scope, send):
            return
        try:
            results = await self._results()
        except Exception:
            LOGGER.warning("detailed health check failed unexpectedly", exc_info=True)
            await _json(scope, send, 503, {"status": "unhealthy", "error": "health check failed"})
            return
        ready, status = overall(results)
        body: dict[str, Any] = {
            "status": status,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "dependencies": {r.name: r.as_json() for r in results},
        }
        if self.checker is not None:
            body["cache_seconds"] = self.checker.interval
        if self.service:
            body["service"] = self.service
        if self.version:
            body["version"] = self.version
        await _json(scope, send, 200 if ready else 503, body)

    async def workers(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Workers whose heartbeat has not expired."""
        if not await self._private(scope, send):
            return
        if self.heartbeats is None:
            await _json(scope, send, 404, {"error": "worker heartbeats are not configured"})
            return
        try:
            beats = await self.heartbeats.workers()
        except Exception as exc:
            message = sanitize_message(f"{type(exc).__name__}: {exc}", self.heartbeats.secrets())
            await _json(scope, send, 503, {"status": "unknown", "error": message, "workers": []})
            return
        now = self.now()
        missing = self.heartbeats.missing(beats)
        wanted = max(self.min_workers, len(self.heartbeats.expected))
        status = "ok" if len(beats) >= wanted and not missing else "down" if not beats else "degraded"
        body: dict[str, Any] = {"status": status, "count": len(beats), "expected": wanted, "missing": missing}
        body["workers"] = [_beat_json(b, now) for b in beats]
        await _json(scope, send, 503 if status == "down" else 200, body)

    async def worker(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One worker's heartbeat; the id comes from the route's ``worker_id`` path parameter."""
        worker_id = str((scope.get("path_params") or {}).get("worker_id", ""))
        await self._worker(scope, send, worker_id)

    async def _worker(self, scope: Scope, send: Send, worker_id: str) -> None:
        if not await self._private(scope, send):
            return
        if self.heartbeats is None:
            await _json(scope, send, 404, {"error": "worker heartbeats are not configured"})
            return
        from jobpulse.runtime.heartbeat import valid_worker_id

        if not valid_worker_id(worker_id):
            await _json(scope, send, 404, {"error": "unknown worker"})
            return
        try:
            beat = await self.heartbeats.worker(worker_id)
        except Exception as exc:
            message = sanitize_message(f"{type(exc).__name__}: {exc}", self.heartbeats.secrets())
            await _json(scope, send, 503, {"status": "unknown", "error": message})
            return
        if beat is None:
            await _json(scope, send, 404, {"error": "unknown worker", "worker": worker_id, "status": "offline"})
            return
        await _json(scope, send, 200, _beat_json(beat, self.now()))

    async def _private(self, scope: Scope, send: Send) -> bool:
        """GET/HEAD only, and with ``token`` the right bearer token (else 405 or 401 has been sent)."""
        if not await _allowed(scope, send):
            return False
        if self._token is None:
            return True
        for key, value in scope.get("headers", ()):
            if key.lower() == b"authorization" and self._token.allows(value):
                return True
        await _json(scope, send, 401, {"error": "unauthorized"}, [(b"www-authenticate", b'Bearer realm="health"')])
        return False

    async def _results(self) -> list[CheckResult]:
        return [] if self.checker is None else await self.checker.results()

    # -- routing helpers -----------------------------------------------------------------------------
    def routes(self, prefix: str = "/health", *, workers_prefix: str | None = None) -> list[Any]:
        """Starlette routes on exact paths: ``prefix``, ``prefix/ready``, ``prefix/detailed``,
        ``prefix/workers`` and ``prefix/workers/{worker_id}`` — plus, with ``workers_prefix``
        (seed 004: ``/api/v1/workers``), ``workers_prefix/health`` and ``workers_prefix/{worker_id}/heartbeat``."""
        routing = require("starlette.routing", extra="starlette", feature="HealthApp.routes")

        def route(path: str, endpoint: Endpoint, **kwargs: Any) -> Any:
            # an object, not a bound method: Starlette then calls it as an ASGI app
            return routing.Route(path, _ASGIEndpoint(endpoint), **kwargs)

        prefix = prefix.rstrip("/")
        out = [
            route(prefix or "/", self.live, methods=["GET", "HEAD"], name="health"),
            route(prefix + "/ready", self.ready, methods=["GET", "HEAD"], name="health_ready"),
            route(prefix + "/detailed", self.detailed, methods=["GET", "HEAD"], name="health_detailed"),
        ]
        # the worker routes answer 404 until ``heartbeats`` is set (it may be set after the routes are built)
        out += [
            route(prefix + "/workers", self.workers, methods=["GET", "HEAD"], name="health_workers"),
            route(prefix + "/workers/{worker_id}", self.worker, methods=["GET", "HEAD"], name="health_worker"),
        ]
        if workers_prefix is not None:
            base = workers_prefix.rstrip("/")
            out += [
                route(base + "/health", self.workers, methods=["GET", "HEAD"], name="workers_health"),
                route(base + "/{worker_id}/heartbeat", self.worker, methods=["GET", "HEAD"], name="worker_heartbeat"),
            ]
        return out

    # -- background refresh --------------------------------------------------------------------------
    async def start(self, interval: float | None = None) -> None:
        """Refresh checks (and heartbeat metrics) every ``interval`` (default: the checker's) in a task."""
        if self._background is not None and not self._background.done():
            return
        every = interval if interval is not None else (self.checker.interval if self.checker else 10.0)
        self._background = asyncio.get_running_loop().create_task(self._refresh_forever(max(every, 0.05)))

    async def stop(self) -> None:
        task, self._background = self._background, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.checker is not None:
            await self.checker.aclose()
        if self.heartbeats is not None:
            await self.heartbeats.aclose()

    async def _refresh_forever(self, every: float) -> None:
        # each on its own cadence: a check that hangs until its timeout (a database going down) does not hold back
        # the heartbeat gauge, which would then look older than the workers' last beats
        await asyncio.gather(self._every(every, self._refresh_checks), self._every(every, self._refresh_heartbeats))

    @staticmethod
    async def _every(every: float, refresh: Callable[[], Awaitable[None]]) -> None:
        while True:
            await refresh()
            await asyncio.sleep(every)

    async def _refresh_checks(self) -> None:
        if self.checker is not None:
            try:
                await self.checker.refresh()
            except Exception:
                LOGGER.warning("background health check failed", exc_info=True)

    async def _refresh_heartbeats(self) -> None:
        if self.heartbeats is not None:
            with contextlib.suppress(Exception):
                await self.heartbeats.workers()


class _ASGIEndpoint:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


def _beat_json(beat: Any, now: float) -> dict[str, Any]:
    """A heartbeat as JSON, the ``info`` a worker published redacted like a log line."""
    body: dict[str, Any] = beat.as_json(now)
    if body.get("info"):
        body["info"] = redact_value(body["info"])
    return body


def _relative_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


async def _allowed(scope: Scope, send: Send) -> bool:
    if scope.get("method", "GET") in ("GET", "HEAD"):
        return True
    await _json(scope, send, 405, {"error": "method not allowed"}, [(b"allow", b"GET, HEAD")])
    return False


async def _json(
    scope: Scope, send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else data})
