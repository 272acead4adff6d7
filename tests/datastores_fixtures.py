"""Fixtures for tests that need real Redis and PostgreSQL servers (started here, on loopback).

A missing server binary skips the test with the command that installs it; with CI=true it fails instead.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from jobpulse.verify.datastores import (
    DATASTORE_PACKAGES,
    PostgresServer,
    RedisServer,
    find_postgres_binary,
    find_redis_binary,
)
from jobpulse.verify.servers import free_port, wait_for

#: The password the test PostgreSQL and Redis servers require; tests assert it never leaks.
DATASTORE_PASSWORD = "pw-Sup3r-s3cret-4711"


def _skip_or_fail(name: str) -> None:
    message = (
        f"{name} not installed: apt-get install {DATASTORE_PACKAGES[name]} (or run scripts/install-system-deps.sh)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_bin() -> str:
    path = find_redis_binary()
    if path is None:
        _skip_or_fail("redis-server")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def postgres_bindir() -> Path:
    initdb, postgres = find_postgres_binary("initdb"), find_postgres_binary("postgres")
    if initdb is None or postgres is None:
        _skip_or_fail("initdb" if initdb is None else "postgres")
    assert initdb is not None
    return Path(initdb).parent


@pytest.fixture
def redis_server(redis_bin: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis per test (tests may kill and restart it), protected by DATASTORE_PASSWORD."""
    with RedisServer(workdir=tmp_path / "redis", password=DATASTORE_PASSWORD, binary=redis_bin) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(postgres_bindir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session; the superuser needs DATASTORE_PASSWORD over TCP."""
    workdir = tmp_path_factory.mktemp("postgres")
    with PostgresServer(workdir=workdir, password=DATASTORE_PASSWORD, bindir=postgres_bindir) as server:
        yield server


@contextmanager
def serve(app: Any, shutdown_timeout: float = 15.0) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread (lifespan on); yields its base URL.

    An app that does not shut down within ``shutdown_timeout`` fails the test with the stacks of the
    tasks it was still running.
    """
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=30, interval=0.02)
        if not server.started:
            raise RuntimeError("the app did not start (see the log above)")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            stacks = io.StringIO()
            for task in asyncio.all_tasks(loop):
                print(f"--- {task.get_name()}: {task.get_coro()}", file=stacks)
                task.print_stack(limit=8, file=stacks)
            pytest.fail(f"the app did not shut down within {shutdown_timeout}s; tasks:\n{stacks.getvalue()}")
        loop.close()
