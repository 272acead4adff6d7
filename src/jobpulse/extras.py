"""Optional dependencies: one way to import them, one error when they are missing.

jobpulse's base install (``pip install jobpulse``) builds, lints and tests specs. Everything else lives
behind an extra: ``pip install 'jobpulse[redis]'``, ``'jobpulse[demo]'``, ``'jobpulse[all]'``. Code that
needs an optional package imports it with :func:`require`; when the package is missing the caller gets a
:class:`MissingExtra` (an :class:`ImportError`) whose message is the pip command to run, and the CLI turns
it into that message and exit status 2 — never a traceback.

This module imports nothing of jobpulse's, so every layer may use it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtra", "available", "require"]

#: extra -> what it enables (the same words as pyproject.toml's comments; tests keep the two in step)
EXTRAS: dict[str, str] = {
    "starlette": "ASGI middleware, health and metrics apps",
    "fastapi": "FastAPI apps",
    "http": "HTTP health checks",
    "redis": "Redis health checks and worker heartbeats",
    "postgres": "the PostgreSQL health check",
    "sqlalchemy": "SQLAlchemy engine metrics",
    "otel": "OpenTelemetry traces",
    "structlog": "structlog processors",
    "celery": "Celery task metrics",
    "rq": "RQ job metrics",
    "backtest": "jobpulse backtest",
    "canary": "jobpulse canary",
    "demo": "jobpulse demo",
    "status": "jobpulse status serve",
    "datadog": "DogStatsD at runtime (jobpulse.runtime.dogstatsd)",
    "all": "every integration and command",
}


class MissingExtra(ImportError):
    """An optional package is not installed; the message says which extra installs it."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        self.feature = feature
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed ({feature} needs it): pip install 'jobpulse[{extra}]'")

    @property
    def hint(self) -> str:
        return f"pip install 'jobpulse[{self.extra}]'"


def require(module: str, *, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` (``"redis.asyncio"``, ``"httpx"``) or raise :class:`MissingExtra` naming ``extra``.

    ``feature`` is what the caller was about to do ("jobpulse demo", "the Redis check"); it starts the message.
    An ImportError raised *inside* an installed package is not hidden: only a missing top-level package
    (or the module itself) becomes :class:`MissingExtra`.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name != module and exc.name.split(".")[0] != top:
            raise  # the package is there but one of *its* dependencies is broken: show that as it is
        raise MissingExtra(feature or f"jobpulse's {EXTRAS[extra]}", _distribution(top), extra) from exc


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing anything else of it)."""
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


_DISTRIBUTIONS = {"psycopg": "psycopg", "opentelemetry": "opentelemetry-sdk", "yaml": "PyYAML"}


def _distribution(top: str) -> str:
    return _DISTRIBUTIONS.get(top, top)
