"""Worker heartbeats in Redis: workers write, the API lists them and exports when each was last seen.

A worker runs a :class:`Heartbeat` (a daemon thread, or an asyncio task with :meth:`Heartbeat.run`) that
writes ``jobpulse:heartbeat:<worker>`` every ``interval`` seconds with a time-to-live of ``ttl`` seconds
(three intervals by default). A worker that stops beating disappears from the listing once its key
expires; one that shuts down cleanly deletes its key at once.

The reading side, :class:`HeartbeatMonitor`, lists live workers for ``/health/workers`` and sets
``worker_last_heartbeat_timestamp_seconds{worker}``. The gauge keeps a worker's last value after its key
expires, so ``time() - worker_last_heartbeat_timestamp_seconds > 300`` finds a silent worker; the
``worker`` label is bounded (``max_workers`` distinct values, then ``__other__``). Workers the monitor is told
to expect (``expected``) are in the gauge from the start, at the time the monitor started: one that never
beats is then as silent as one that stopped, instead of a missing series no alert sees.

Needs ``pip install 'jobpulse[redis]'``. Heartbeat failures are logged and counted, never raised into
the worker.
"""

from __future__ import annotations

from jobpulse.runtime.heartbeat.monitor import HeartbeatMonitor
from jobpulse.runtime.heartbeat.record import KEY_PREFIX, WorkerHeartbeat, valid_worker_id
from jobpulse.runtime.heartbeat.writer import Heartbeat
from jobpulse.runtime.labels import OTHER as OTHER  # the value past max_workers

__all__ = [
    "KEY_PREFIX",
    "Heartbeat",
    "HeartbeatMonitor",
    "WorkerHeartbeat",
    "valid_worker_id",
]
