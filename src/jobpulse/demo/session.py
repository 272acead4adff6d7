"""What every demo run does around the example's app: signals, the app's log file, its tasks, and the watcher
that reads the numbers of the live view (Prometheus first, the app's own metrics for anything missing).

Used by the demo (:mod:`jobpulse.demo.runner`) and the rollout demo (:mod:`jobpulse.demo.rollout_run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from jobpulse.demo.example import Example
from jobpulse.demo.monitoring import Monitoring
from jobpulse.demo.stats import JobMetrics, RegistryWindow, Snapshot, Totals, merge, prometheus_snapshot, scrape

__all__ = [
    "Watcher",
    "attach_log_file",
    "detach_log_file",
    "install_signals",
    "remove_signals",
    "say",
    "stop_task",
    "supported_kwargs",
    "task_error",
]


def say(console: Console, text: str, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def supported_kwargs(func: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``func`` accepts (examples need not take every option)."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def install_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    return installed


def remove_signals(installed: list[signal.Signals]) -> None:
    loop = asyncio.get_running_loop()
    for sig in installed:
        loop.remove_signal_handler(sig)


def attach_log_file(example: Example, path: Path) -> logging.Handler:
    """Send the app's (and uvicorn's) log lines to ``path`` so they do not break the live view."""
    handler = logging.FileHandler(path, encoding="utf-8")
    configure = getattr(example.app_module, "configure_logging", None)
    if callable(configure):
        configure(handler)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger().addHandler(handler)
    logging.getLogger("uvicorn").addHandler(handler)
    return handler


def detach_log_file(handler: logging.Handler) -> None:
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        if handler in logger.handlers:
            logger.removeHandler(handler)
    handler.close()


def task_error(task: asyncio.Task[Any] | None) -> str:
    if task is None or not task.done():
        return ""
    if task.cancelled():
        return " (cancelled)"
    exc = task.exception()
    return f": {type(exc).__name__}: {exc}" if exc is not None else ""


async def stop_task(task: asyncio.Task[Any] | None, timeout: float) -> Any:
    if task is None:
        return None
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
    results = await asyncio.gather(task, return_exceptions=True)
    return results[0]


class Watcher:
    """Builds a Snapshot per refresh: Prometheus first, the app's own metrics for anything missing.

    The app's metrics are read from every path it serves (``METRICS_PATHS``), as Prometheus scrapes them, so
    metrics that worker processes write (render_pipeline's ``/metrics/workers``) count too.
    """

    def __init__(self, url: str, paths: tuple[str, ...], metrics: JobMetrics | None, monitoring: Monitoring) -> None:
        self.metrics = metrics
        self.window = RegistryWindow(lambda: scrape(url, paths), metrics) if metrics is not None else None
        self.monitoring = monitoring
        self.totals: Totals | None = None  # the last cumulative numbers read from the app (for the summary)

    def _local(self) -> Snapshot:
        assert self.window is not None
        try:
            snap = self.window.snapshot()
        except Exception as exc:  # the app is down (a scenario stopped it) or slow: say so, keep going
            return Snapshot(error=f"the app's metrics could not be read: {type(exc).__name__}: {exc}")
        self.totals = self.window.latest
        return snap

    async def snapshot_local(self) -> None:
        """Read the app's metrics once (the baseline before the workload starts; the totals after it stops)."""
        if self.window is not None:
            await asyncio.to_thread(self._local)

    async def settle(self, timeout: float = 3.0) -> None:
        """Read the app's metrics until two reads agree (jobs in flight have ended) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        previous = None
        while self.window is not None and time.monotonic() < deadline:
            await asyncio.to_thread(self._local)
            now = self.totals
            if now is not None and previous is not None and (now.enqueued, now.outcomes) == previous:
                return
            previous = (now.enqueued, dict(now.outcomes)) if now is not None else None
            await asyncio.sleep(0.3)

    async def snapshot(self) -> Snapshot:
        local = await asyncio.to_thread(self._local) if self.window is not None else Snapshot()
        store = self.monitoring.store
        if store is None or self.metrics is None:
            return local
        remote = await asyncio.to_thread(prometheus_snapshot, store, self.metrics)
        merged = merge(remote, local)
        if merged.error is None and local.error is not None:
            merged.error = local.error
        return merged
