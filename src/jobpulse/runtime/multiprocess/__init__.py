"""prometheus_client's multi-process mode, set up by jobpulse, with compaction of dead workers' files.

In multi-process mode (gunicorn or uvicorn workers, Celery prefork children) every process writes its samples
to its own memory-mapped ``*.db`` files in one directory, and one ``/metrics`` per host merges them. Left alone,
that directory grows by a few files per worker restart and every scrape reads all of them — after thousands of
restarts a scrape takes seconds. Deleting dead workers' files would make their counters go backwards.
:func:`compact` merges the files of dead processes into one compacted file per kind instead:

* counters, histograms and summaries are summed (rounded *up* to the next float when the exact sum is not
  representable, so a scrape after a compaction is never lower than the one before);
* gauges follow their multi-process mode: ``live*`` modes are dropped (the process is gone, as
  ``mark_process_dead`` does), ``sum``/``max``/``min``/``mostrecent`` are merged the way the collector would
  merge them, and ``all`` keeps its per-process files (its ``pid`` label comes from the file name).

A compaction and a scrape never see each other half done: scrapes read under a shared ``flock`` and the
compactor swaps files under an exclusive one. A crash between writing the compacted file and deleting the
merged ones cannot double count: the swap is journaled first, readers apply the journal's view, and the next
compaction rolls it forward. See ``docs/multiprocess.md``.
"""

from __future__ import annotations

from jobpulse.runtime.multiprocess.collector import MultiprocessCollector, metrics_app, multiprocess_registry
from jobpulse.runtime.multiprocess.compaction import CompactionResult, compact, pid_alive
from jobpulse.runtime.multiprocess.files import COMPACTED, DbFile, parse_name
from jobpulse.runtime.multiprocess.hooks import (
    celery_worker_process_shutdown,
    connect_celery,
    gunicorn_child_exit,
    mark_process_dead,
)
from jobpulse.runtime.multiprocess.journal import JOURNAL, visible_files
from jobpulse.runtime.multiprocess.merge import merge_values, round_up_sum, write_db
from jobpulse.runtime.multiprocess.setup import (
    DEFAULT_GAUGE_MODE,
    ENV,
    GAUGE_MODES,
    ROLE_MODES,
    gauge_mode,
    gauge_modes,
    setup_multiprocess,
)

__all__ = [
    "COMPACTED",
    "DEFAULT_GAUGE_MODE",
    "ENV",
    "GAUGE_MODES",
    "JOURNAL",
    "ROLE_MODES",
    "CompactionResult",
    "DbFile",
    "MultiprocessCollector",
    "celery_worker_process_shutdown",
    "compact",
    "connect_celery",
    "gauge_mode",
    "gauge_modes",
    "gunicorn_child_exit",
    "mark_process_dead",
    "merge_values",
    "metrics_app",
    "multiprocess_registry",
    "parse_name",
    "pid_alive",
    "round_up_sum",
    "setup_multiprocess",
    "visible_files",
    "write_db",
]
