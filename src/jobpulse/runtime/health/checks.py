"""Dependency checks: the :class:`Check` every check subclasses, and :class:`CallableCheck` for any function.

Checks for Redis, HTTP endpoints and PostgreSQL live with the other integrations
(:mod:`jobpulse.integrations.redis`, :mod:`jobpulse.integrations.http`, :mod:`jobpulse.integrations.postgres`).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio.to_thread

DEPENDENCY_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")


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
