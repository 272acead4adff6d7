"""Process-exit hooks (gunicorn, Celery): drop a dead worker's ``live*`` gauges and compact its files."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from jobpulse.runtime._client_internals import stock_mark_process_dead
from jobpulse.runtime.multiprocess.compaction import CompactionResult, compact
from jobpulse.runtime.multiprocess.setup import directory_of

log = logging.getLogger("jobpulse.multiprocess")


def mark_process_dead(
    pid: int, directory: str | Path | None = None, *, compact_after: int | None = 1, exiting_self: bool = False
) -> CompactionResult | None:
    """Bookkeeping when worker ``pid`` died: drop its ``live*`` gauges, then compact dead workers' files.

    ``compact_after``: compact once at least this many dead files are waiting (``None``: never here).
    ``exiting_self=True`` when a process reports its *own* exit (Celery's ``worker_process_shutdown``):
    its files are only compacted by a later call, once the pid is really gone. Never raises: errors are
    logged (instrumentation must not take the host down).
    """
    try:
        path = directory_of(directory)
        stock_mark_process_dead(pid, str(path))
        if compact_after is None:
            return None
        dead = () if exiting_self else (pid,)
        return compact(path, dead=dead, min_files=compact_after)
    except Exception:
        log.exception("jobpulse: marking process %s dead in the multiprocess directory failed", pid)
        return None


def gunicorn_child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: ``child_exit = jobpulse.runtime.multiprocess.gunicorn_child_exit``."""
    mark_process_dead(int(worker.pid))


def celery_worker_process_shutdown(pid: int | None = None, exitcode: int | None = None, **_: Any) -> None:
    """Handler for Celery's ``worker_process_shutdown`` signal (sent in the exiting child)."""
    mark_process_dead(pid or os.getpid(), exiting_self=True)


def connect_celery() -> None:
    """Connect :func:`celery_worker_process_shutdown` to Celery's ``worker_process_shutdown`` signal."""
    from celery.signals import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        worker_process_shutdown,
    )

    worker_process_shutdown.connect(celery_worker_process_shutdown, weak=False)
