"""Database metrics for SQLAlchemy engines, through SQLAlchemy's event hooks.

    from jobpulse.integrations.sqlalchemy import instrument_engine
    instrument_engine(engine, db="main", registry=registry)          # its own metrics
    instrument_engine(engine, db="main", telemetry=telemetry)        # the spec's instruments, by name

Needs ``pip install 'jobpulse[sqlalchemy]'``. Metrics (default names; pass ``names=`` to rename):

- ``db_pool_size{db}``, ``db_pool_max_overflow{db}`` — the pool's configuration;
- ``db_pool_checked_out_connections{db}`` — connections in use right now (checkout/checkin events);
- ``db_query_duration_seconds{db,operation}`` — cursor execution time; ``operation`` is the statement's
  first keyword, one of select/insert/update/delete/other;
- ``db_transactions_total{db,outcome}`` — ``outcome`` commit or rollback. SQLAlchemy begins a transaction
  implicitly on first use, so a connection closed without commit counts as a rollback — that is what the
  database sees, too;
- ``db_query_errors_total{db}`` — statements that raised.

Hooks never raise into the application: a failure to record is logged at debug level and dropped.
Works with ``AsyncEngine`` too (its ``sync_engine`` is instrumented).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from jobpulse.extras import require

require("sqlalchemy", extra="sqlalchemy", feature="jobpulse's SQLAlchemy metrics")
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

__all__ = ["DEFAULT_NAMES", "OPERATIONS", "EngineMetrics", "instrument_engine", "operation_of"]

LOGGER = logging.getLogger("jobpulse.sqlalchemy")
OPERATIONS = ("select", "insert", "update", "delete", "other")
QUERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: role -> default metric name
DEFAULT_NAMES: dict[str, str] = {
    "pool_size": "db_pool_size",
    "pool_max_overflow": "db_pool_max_overflow",
    "checked_out": "db_pool_checked_out_connections",
    "query_duration": "db_query_duration_seconds",
    "transactions": "db_transactions_total",
    "errors": "db_query_errors_total",
}
_LABELS: dict[str, tuple[str, ...]] = {
    "pool_size": ("db",),
    "pool_max_overflow": ("db",),
    "checked_out": ("db",),
    "query_duration": ("db", "operation"),
    "transactions": ("db", "outcome"),
    "errors": ("db",),
}
_HELP: dict[str, str] = {
    "pool_size": "Configured size of the SQLAlchemy connection pool.",
    "pool_max_overflow": "Connections the pool may open beyond its size.",
    "checked_out": "Connections checked out of the pool (in use).",
    "query_duration": "Duration of database statements (cursor execution).",
    "transactions": "Database transactions ended, by outcome (commit or rollback).",
    "errors": "Database statements that raised an error.",
}
_FIRST_WORD = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*([A-Za-z]+)", re.DOTALL)
_START = "_jobpulse_started"


def operation_of(statement: str) -> str:
    """``select``/``insert``/``update``/``delete`` from the statement's first keyword (``WITH`` → select),
    ``other`` for anything else; never the statement itself, so the label stays bounded."""
    match = _FIRST_WORD.match(statement)
    word = match.group(1).lower() if match else ""
    if word == "with":
        # a CTE: the data-modifying keyword, if any, follows the WITH clause
        lowered = statement.lower()
        for op in ("insert", "update", "delete"):
            if re.search(rf"\)\s*{op}\b", lowered):
                return op
        return "select"
    return word if word in OPERATIONS else "other"


def _make(role: str, name: str, registry: CollectorRegistry | None) -> Any:
    labels = list(_LABELS[role])
    if role == "query_duration":
        return Histogram(name, _HELP[role], labels, buckets=QUERY_BUCKETS, registry=registry)
    if role in ("transactions", "errors"):
        return Counter(name, _HELP[role], labels, registry=registry)
    return Gauge(name, _HELP[role], labels, registry=registry)


class EngineMetrics:
    """The event listeners on one engine, and the metrics they update. ``remove()`` detaches them."""

    def __init__(
        self,
        engine: Any,
        *,
        db: str = "default",
        registry: CollectorRegistry | None = REGISTRY,
        telemetry: Any = None,
        names: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.engine: Engine = getattr(engine, "sync_engine", engine)
        if not isinstance(self.engine, Engine):
            raise TypeError(f"expected a SQLAlchemy Engine or AsyncEngine, got {type(engine).__name__}")
        unknown = set(names or {}) - set(DEFAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown metric roles {sorted(unknown)}; roles are {sorted(DEFAULT_NAMES)}")
        self.names = {**DEFAULT_NAMES, **(names or {})}
        self.db = db
        self._clock = clock
        if telemetry is not None:
            self.metrics = {role: telemetry.metric(name) for role, name in self.names.items()}
        else:
            self.metrics = {role: _make(role, name, registry) for role, name in self.names.items()}
        self._durations = {op: self.metrics["query_duration"].labels(db=db, operation=op) for op in OPERATIONS}
        self._commits = self.metrics["transactions"].labels(db=db, outcome="commit")
        self._rollbacks = self.metrics["transactions"].labels(db=db, outcome="rollback")
        self._errors = self.metrics["errors"].labels(db=db)
        self._checked_out = self.metrics["checked_out"].labels(db=db)
        pool = self.engine.pool
        size = pool.size() if hasattr(pool, "size") else 0
        overflow = getattr(pool, "_max_overflow", 0)
        self.metrics["pool_size"].labels(db=db).set(size)
        self.metrics["pool_max_overflow"].labels(db=db).set(max(0, overflow))
        #: the pool records checked out now (by id), and connections already out when the engine was instrumented:
        #: SQLAlchemy also sends ``checkin`` for a connection that failed to connect (never checked out), which
        #: must not count down (a database outage drove the gauge to -289)
        self._out: set[int] = set()
        self._untracked = pool.checkedout() if hasattr(pool, "checkedout") else 0
        self._out_lock = threading.Lock()
        self._checked_out.set(self._untracked)
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = [
            (self.engine, "before_cursor_execute", self._before),
            (self.engine, "after_cursor_execute", self._after),
            (self.engine, "handle_error", self._error),
            (self.engine, "commit", self._commit),
            (self.engine, "rollback", self._rollback),
            (pool, "checkout", self._checkout),
            (pool, "checkin", self._checkin),
        ]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)

    def remove(self) -> None:
        for target, name, fn in self._listeners:
            if event.contains(target, name, fn):
                event.remove(target, name, fn)
        self._listeners = []

    # -- hooks (each swallows its own errors) ---------------------------------------------------------
    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        try:
            if context is not None:
                setattr(context, _START, self._clock())
        except Exception:
            LOGGER.debug("before_cursor_execute hook failed", exc_info=True)

    def _observe(self, context: Any, statement: str | None) -> None:
        started = getattr(context, _START, None) if context is not None else None
        if started is None:
            return
        setattr(context, _START, None)
        self._durations[operation_of(statement or "")].observe(max(0.0, self._clock() - started))

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        try:
            self._observe(context, statement)
        except Exception:
            LOGGER.debug("after_cursor_execute hook failed", exc_info=True)

    def _error(self, exception_context: Any) -> None:
        try:
            self._errors.inc()
            self._observe(exception_context.execution_context, exception_context.statement)
        except Exception:
            LOGGER.debug("handle_error hook failed", exc_info=True)

    def _commit(self, conn: Any) -> None:
        try:
            self._commits.inc()
        except Exception:
            LOGGER.debug("commit hook failed", exc_info=True)

    def _rollback(self, conn: Any) -> None:
        try:
            self._rollbacks.inc()
        except Exception:
            LOGGER.debug("rollback hook failed", exc_info=True)

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        try:
            with self._out_lock:
                new = id(record) not in self._out
                self._out.add(id(record))
            if new:
                self._checked_out.inc()
        except Exception:
            LOGGER.debug("checkout hook failed", exc_info=True)

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        try:
            with self._out_lock:
                if id(record) in self._out:
                    self._out.discard(id(record))
                elif self._untracked > 0:  # one that was out before the engine was instrumented
                    self._untracked -= 1
                else:  # a connection attempt that failed: it was never checked out
                    return
            self._checked_out.dec()
        except Exception:
            LOGGER.debug("checkin hook failed", exc_info=True)


def instrument_engine(
    engine: Any,
    *,
    db: str = "default",
    registry: CollectorRegistry | None = REGISTRY,
    telemetry: Any = None,
    names: Mapping[str, str] | None = None,
) -> EngineMetrics:
    """Attach the metric hooks to ``engine`` (an ``Engine`` or ``AsyncEngine``); see the module docs."""
    return EngineMetrics(engine, db=db, registry=registry, telemetry=telemetry, names=names)
