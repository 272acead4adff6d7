"""Liveness, readiness and dependency health as a pure-ASGI app, mountable under any prefix.

Endpoints, relative to where the app is mounted (``Mount("/api/v1/health", health)`` or the exact
routes from :meth:`HealthApp.routes`):

- ``/health`` — liveness: answers 200 without calling any dependency.
- ``/health/ready`` — readiness: 503 while a *critical* dependency is down.
- ``/health/detailed`` — every dependency's status, latency and a sanitised message (no passwords,
  no connection strings); 503 while a critical dependency is down.
- ``/health/workers`` and ``/health/workers/<id>`` — worker heartbeats (see :mod:`jobpulse.runtime.heartbeat`).

Checks run concurrently, each under its own timeout, and their results are cached for ``interval``
seconds: any number of concurrent probes cause at most one run of each check per interval, so
Kubernetes probes (or an attacker) cannot overload a dependency. Every run updates
``jobpulse_dependency_up{dependency}`` and ``jobpulse_dependency_check_duration_seconds{dependency}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

from jobpulse.extras import require
from jobpulse.redaction import sanitize_message, url_secrets
from jobpulse.runtime.exposition import Receive, Scope, Send

if TYPE_CHECKING:
    from jobpulse.runtime.heartbeat import HeartbeatMonitor

__all__ = [
    "CallableCheck",
    "Check",
    "CheckResult",
    "HealthApp",
    "HealthChecker",
    "HttpCheck",
    "PostgresCheck",
    "sanitize_message",
]

LOGGER = logging.getLogger("jobpulse.health")
CHECK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEPENDENCY_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
UP_METRIC = "jobpulse_dependency_up"
DURATION_METRIC = "jobpulse_dependency_check_duration_seconds"

Status = Literal["up", "down"]


def _require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise :class:`~jobpulse.extras.MissingExtra` saying which extra installs it."""
    return require(module, extra=extra, feature=what)


# --- checks -------------------------------------------------------------------------------------------
class Check:
    """One dependency. Subclasses implement :meth:`probe`: return a short message (or ``None``) when
    the dependency is up, raise when it is down. The checker applies the timeout."""

    def __init__(self, name: str, *, critical: bool = True, timeout: float = 2.0) -> None:
        if not DEPENDENCY_NAME.match(name):
            raise ValueError(f"dependency name must match {DEPENDENCY_NAME.pattern}, got {name!r}")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.name = name
        self.critical = critical
        self.timeout = float(timeout)

    async def probe(self) -> str | None:
        raise NotImplementedError

    def secrets(self) -> Sequence[str]:
        """Strings that must never appear in this check's messages (DSNs, passwords)."""
        return ()

    async def aclose(self) -> None:
        """Release clients the check holds."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, critical={self.critical})"


CheckFunc = Callable[[], "bool | str | Awaitable[bool | str | None] | None"]


class CallableCheck(Check):
    """Any function, sync or async: up when it returns ``None``, ``True`` or a message string; down when
    it returns ``False`` or raises. A sync function runs in a worker thread; while one call is still
    running (it timed out and cannot be interrupted) no second one is started."""

    def __init__(self, name: str, func: CheckFunc, *, critical: bool = True, timeout: float = 2.0) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        self.func = func
        self._is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        self._thread_busy = threading.Event()

    async def probe(self) -> str | None:
        if self._is_async:
            result = await self.func()  # type: ignore[misc]
        else:
            if self._thread_busy.is_set():
                raise RuntimeError("the previous check is still running")
            self._thread_busy.set()
            started = threading.Event()
            try:
                result = await anyio.to_thread.run_sync(self._call_sync, started, abandon_on_cancel=True)
            except BaseException:
                if not started.is_set():  # cancelled before a thread ran it: nothing is still running
                    self._thread_busy.clear()
                raise
        if inspect.isawaitable(result):
            result = await result
        if result is False:
            raise RuntimeError("check returned False")
        return result if isinstance(result, str) else None

    def _call_sync(self, started: threading.Event) -> Any:
        started.set()
        try:
            return self.func()
        finally:
            self._thread_busy.clear()


class HttpCheck(Check):
    """GET ``url``; up when the status is below 400 (or in ``expect_status``). Needs ``jobpulse[http]``."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        critical: bool = False,
        timeout: float = 2.0,
        expect_status: Iterable[int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        self._httpx = _require("httpx", "http", "HttpCheck")
        self.url = url
        self.expect_status = frozenset(expect_status) if expect_status is not None else None
        self._headers = dict(headers or {})
        self._client: Any = None

    async def probe(self) -> str | None:
        if self._client is None:
            # trust_env=False: a proxy from the environment must not see (or break) the probe
            self._client = self._httpx.AsyncClient(timeout=self.timeout, trust_env=False, follow_redirects=False)
        response = await self._client.get(self.url, headers=self._headers)
        code = response.status_code
        ok = code in self.expect_status if self.expect_status is not None else code < 400
        if not ok:
            raise RuntimeError(f"HTTP {code}")
        return f"HTTP {code}"

    def secrets(self) -> Sequence[str]:
        return [*url_secrets(self.url), *self._headers.values()]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class PostgresCheck(Check):
    """Connect with ``dsn`` and run ``SELECT 1`` (a fresh connection each run, so a check never holds a
    connection between runs). Needs ``jobpulse[postgres]`` (psycopg 3)."""

    def __init__(self, name: str = "postgres", *, dsn: str, critical: bool = True, timeout: float = 2.0) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        self._psycopg = _require("psycopg", "postgres", "PostgresCheck")
        self._dsn = dsn
        self._secrets = url_secrets(dsn)
        with contextlib.suppress(Exception):
            params = self._psycopg.conninfo.conninfo_to_dict(dsn)
            self._secrets += [str(params[k]) for k in ("password", "sslpassword") if params.get(k)]

    async def probe(self) -> str | None:
        connect_timeout = max(1, math.ceil(self.timeout))
        conn = await self._psycopg.AsyncConnection.connect(self._dsn, connect_timeout=connect_timeout)
        try:
            cursor = await conn.execute("SELECT 1")
            row = await cursor.fetchone()
            if row != (1,):
                raise RuntimeError("SELECT 1 returned an unexpected row")
        finally:
            await conn.close()
        return "ok"

    def secrets(self) -> Sequence[str]:
        return self._secrets


# --- results and the checker --------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    critical: bool
    latency_ms: float
    message: str
    checked_at: float  # Unix time

    @property
    def up(self) -> bool:
        return self.status == "up"

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "critical": self.critical,
            "latency_ms": round(self.latency_ms, 2),
            "message": self.message,
            "checked_at": round(self.checked_at, 3),
        }


class HealthChecker:
    """Runs the checks concurrently, caches the results for ``interval`` seconds, records metrics.

    Concurrent callers share one run (single flight): N probes within an interval cause one run of each
    check. Metrics are registered in ``registry`` (``None`` registers nowhere — the checker still works);
    pass ``up_metric``/``duration_metric`` (objects with ``labels(dependency=...)``, e.g. spec instruments
    ``telemetry["jobpulse_dependency_up"]``) to record into metrics declared in a spec instead.
    """

    def __init__(
        self,
        checks: Iterable[Check],
        *,
        interval: float = 10.0,
        registry: CollectorRegistry | None = REGISTRY,
        up_metric: Any = None,
        duration_metric: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = list(checks)
        names = [c.name for c in self.checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dependency names must be unique; repeated: {', '.join(duplicates)}")
        if interval < 0:
            raise ValueError("interval must not be negative")
        self.interval = float(interval)
        self._clock = clock
        self._cached: list[CheckResult] | None = None
        self._cached_at = -math.inf
        self._inflight: asyncio.Task[list[CheckResult]] | None = None
        #: completed check rounds (each runs every check once)
        self.runs = 0
        # spec instruments (``telemetry["jobpulse_dependency_up"]``) when given, else our own collectors
        self._up = up_metric
        if up_metric is None:
            self._up = Gauge(
                UP_METRIC,
                "1 when the dependency's last health check passed, 0 when it failed or timed out.",
                ["dependency"],
                registry=registry,
            )
        self._duration = duration_metric
        if duration_metric is None:
            self._duration = Histogram(
                DURATION_METRIC,
                "Duration of dependency health checks, timeouts included.",
                ["dependency"],
                buckets=CHECK_BUCKETS,
                registry=registry,
            )
        # the label's values are the configured dependency names: bounded by construction
        self._children = {
            c.name: (self._up.labels(dependency=c.name), self._duration.labels(dependency=c.name)) for c in self.checks
        }

    @property
    def critical(self) -> list[str]:
        return [c.name for c in self.checks if c.critical]

    def cached(self) -> list[CheckResult] | None:
        """The last results, however old (``None`` before the first run)."""
        return self._cached

    async def results(self) -> list[CheckResult]:
        """Results at most ``interval`` seconds old; runs the checks (once, for all callers) otherwise."""
        if self._cached is not None and self._clock() - self._cached_at < self.interval:
            return self._cached
        return await self.refresh()

    async def refresh(self) -> list[CheckResult]:
        """Run the checks now, or join the run already in progress."""
        task = self._inflight
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._inflight = loop.create_task(self._run_all(), name="jobpulse-health-checks")
        # shield: a probe that disconnects must not cancel the run other probes are waiting for
        return await asyncio.shield(task)

    async def _run_all(self) -> list[CheckResult]:
        results = list(await asyncio.gather(*(self._run(check) for check in self.checks)))
        self._cached, self._cached_at = results, self._clock()
        self.runs += 1
        return results

    async def _run(self, check: Check) -> CheckResult:
        started = time.perf_counter()
        status: Status = "down"
        try:
            async with asyncio.timeout(check.timeout):
                message = await check.probe()
            status, message = "up", message or "ok"
        except TimeoutError:
            message = f"timed out after {check.timeout:g}s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raw = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            message = raw
        elapsed = time.perf_counter() - started
        try:
            secrets = check.secrets()
        except Exception:
            secrets = ()
        result = CheckResult(
            name=check.name,
            status=status,
            critical=check.critical,
            latency_ms=elapsed * 1000.0,
            message=sanitize_message(str(message), secrets),
            checked_at=time.time(),
        )
        try:
            up, duration = self._children[check.name]
            up.set(1 if status == "up" else 0)
            duration.observe(elapsed)
        except Exception:  # instrumentation never takes the app down
            LOGGER.debug("recording health metrics failed", exc_info=True)
        return result

    async def aclose(self) -> None:
        for check in self.checks:
            with contextlib.suppress(Exception):
                await check.aclose()


def overall(results: Sequence[CheckResult]) -> tuple[bool, str]:
    """(ready, status): ``healthy``; ``degraded`` when only non-critical checks fail; ``unhealthy``."""
    critical_down = any(not r.up and r.critical for r in results)
    if critical_down:
        return False, "unhealthy"
    if any(not r.up for r in results):
        return True, "degraded"
    return True, "healthy"


# --- the ASGI app -------------------------------------------------------------------------------------
Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]
_WORKER_PATH = re.compile(r"^/workers/([^/]+)$")


class HealthApp:
    """The health endpoints. Mount it anywhere; paths are read relative to the mount point.

    ``checker`` may be ``None`` (readiness then only says the process is up); ``heartbeats`` enables
    the worker endpoints. ``start()`` runs the checks in the background every interval so that the
    metrics stay fresh even when nobody probes.
    """

    def __init__(
        self,
        checker: HealthChecker | None = None,
        *,
        heartbeats: HeartbeatMonitor | None = None,
        service: str | None = None,
        version: str | None = None,
    ) -> None:
        self.checker = checker
        self.heartbeats = heartbeats
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
            await _lifespan(receive, send)
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
        if not await _allowed(scope, send):
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
        if not await _allowed(scope, send):
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
        now = time.time()
        await _json(
            scope,
            send,
            200,
            {"status": "ok", "count": len(beats), "workers": [b.as_json(now) for b in beats]},
        )

    async def worker(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One worker's heartbeat; the id comes from the route's ``worker_id`` path parameter."""
        worker_id = str((scope.get("path_params") or {}).get("worker_id", ""))
        await self._worker(scope, send, worker_id)

    async def _worker(self, scope: Scope, send: Send, worker_id: str) -> None:
        if not await _allowed(scope, send):
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
        await _json(scope, send, 200, beat.as_json(time.time()))

    async def _results(self) -> list[CheckResult]:
        return [] if self.checker is None else await self.checker.results()

    # -- routing helpers -----------------------------------------------------------------------------
    def routes(self, prefix: str = "/health", *, workers_prefix: str | None = None) -> list[Any]:
        """Starlette routes on exact paths: ``prefix``, ``prefix/ready``, ``prefix/detailed``,
        ``prefix/workers`` and ``prefix/workers/{worker_id}`` — plus, with ``workers_prefix``
        (seed 004: ``/api/v1/workers``), ``workers_prefix/health`` and ``workers_prefix/{worker_id}/heartbeat``."""
        routing = _require("starlette.routing", "starlette", "HealthApp.routes")

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
        while True:
            if self.checker is not None:
                try:
                    await self.checker.refresh()
                except Exception:
                    LOGGER.warning("background health check failed", exc_info=True)
            if self.heartbeats is not None:
                with contextlib.suppress(Exception):
                    await self.heartbeats.workers()
            await asyncio.sleep(every)


class _ASGIEndpoint:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


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


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
