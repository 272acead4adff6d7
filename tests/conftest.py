"""Shared pytest fixtures."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.scheduling import RECORD_ENV, make_scheduler, record_durations

# The Go binaries the suite runs (promtool ~400 times, Prometheus, Alertmanager) collect garbage four times less
# often: 0.85x the CPU for promtool's alert tests (benchmarks/bench_startup.py, docs/benchmarks.md), for a few tens
# of MB more each. A GOGC already set wins.
os.environ.setdefault("GOGC", "400")

# Hypothesis' per-example deadline (200 ms) measures the machine, not the code: `make test` runs 5 workers on
# 2 cores beside real servers, where a slow example is load, not a bug. Tests that promise a time bound
# (the spec fuzzers) assert it themselves.
settings.register_profile("jobpulse", deadline=None)
settings.load_profile("jobpulse")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (``make pytest``): shared-fixture units, longest first (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return make_scheduler(config, log)


_measured: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With JOBPULSE_RECORD_DURATIONS set (``make durations``), add up each test's setup, call and teardown."""
    if os.environ.get(RECORD_ENV):
        _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(RECORD_ENV)
    if target and _measured and not hasattr(session.config, "workerinput"):
        record_durations(Path(target), _measured)


# --- external binaries (Prometheus, promtool, Alertmanager, amtool) ------------------------------
# A missing binary skips the test with the command that installs it; under CI (CI=true) it fails,
# so a CI machine without them can never go green by skipping.


def need_binary(name: str) -> str:
    """Path of binary ``name``; skip the test (fail when CI=true) if it is not installed."""
    from jobpulse.verify.binaries import PACKAGES, find_binary

    path = find_binary(name)
    if path is not None:
        return path
    package = PACKAGES.get(name, name)
    message = f"{name} not installed: apt-get install {package} (or run scripts/install-system-deps.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    return need_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return need_binary("amtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return need_binary("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return need_binary("alertmanager")


@pytest.fixture(scope="session")
def pushgateway_bin() -> str:
    """Debian's ``prometheus-pushgateway`` (upstream's name ``pushgateway`` works too)."""
    from jobpulse.verify.pushgateway import find_pushgateway

    return find_pushgateway() or need_binary("prometheus-pushgateway")


# --- end of external binaries ------------------------------------------------------------------


# --- async tests run on asyncio only -----------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- Redis and PostgreSQL servers (health checks, heartbeats, SQLAlchemy metrics) ----------------
# Defined in tests/datastores_fixtures.py: redis_bin, postgres_bindir, redis_server, postgres_server.
from tests.datastores_fixtures import (  # noqa: E402
    postgres_bindir,
    postgres_server,
    redis_bin,
    redis_server,
)

__all__ = ["postgres_bindir", "postgres_server", "redis_bin", "redis_server"]
# --- end of Redis and PostgreSQL servers ---------------------------------------------------------


# --- jobpulse's own log lines --------------------------------------------------------------------------


@pytest.fixture
def jobpulse_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """caplog for jobpulse's loggers even if another test disabled them (logging.config) or stopped propagation."""
    # every jobpulse logger that exists: a logging.config.dictConfig in an earlier test of this worker disables them
    names = {"jobpulse", "jobpulse.multiprocess", "jobpulse.push", "jobpulse.llm"}
    names |= {name for name in logging.root.manager.loggerDict if name.startswith("jobpulse.")}
    saved = []
    for name in sorted(names):
        logger = logging.getLogger(name)
        saved.append((logger, logger.disabled, logger.level))
        logger.disabled = False
        # setLevel, not assigning .level: it also clears the loggers' isEnabledFor caches, which may still hold
        # "WARNING is off" from a time an earlier test had raised a level
        logger.setLevel(logging.WARNING)
    logger = logging.getLogger("jobpulse")
    logger.addHandler(caplog.handler)
    monkeypatch.setattr(logger, "propagate", False)  # the handler is attached here: no second copy via root
    caplog.handler.setLevel(logging.WARNING)
    yield caplog
    logger.removeHandler(caplog.handler)
    for each, disabled, level in saved:
        each.disabled = disabled
        each.setLevel(level)
