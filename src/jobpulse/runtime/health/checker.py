"""Running the checks: concurrently, each under its timeout, cached for an interval, recorded as metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

from jobpulse.redaction import sanitize_message
from jobpulse.runtime.health.checks import Check

LOGGER = logging.getLogger("jobpulse.health")
CHECK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UP_METRIC = "jobpulse_dependency_up"
DURATION_METRIC = "jobpulse_dependency_check_duration_seconds"

Status = Literal["up", "down"]


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
