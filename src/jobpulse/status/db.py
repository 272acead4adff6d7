"""Connections for the status page's storage: SQLite (a file path) or PostgreSQL (a URL).

Both speak the same SQL (written with ``?`` placeholders); every write runs in one transaction, so a crash
mid-write leaves the previous state. The schema is created and migrated here, under a lock, and its
version is kept in ``status_schema``.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from jobpulse.extras import require
from jobpulse.redaction import redact_urls

__all__ = ["MIGRATIONS", "Database", "PostgresDatabase", "SQLiteDatabase", "Tx", "open_database", "redact_url"]

Row = tuple[Any, ...]

#: (version, statements); a new version is appended, never edited once released
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE incidents (
                id TEXT PRIMARY KEY,
                group_key TEXT,
                name TEXT NOT NULL,
                status TEXT NOT NULL,
                impact TEXT NOT NULL,
                source TEXT NOT NULL,
                components TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                identified_at DOUBLE PRECISION,
                monitoring_at DOUBLE PRECISION,
                resolved_at DOUBLE PRECISION
            )""",
            # one open incident per Alertmanager group, enforced by the database (also across replicas)
            "CREATE UNIQUE INDEX incidents_open_group ON incidents (group_key) WHERE status <> 'resolved'",
            "CREATE INDEX incidents_created ON incidents (created_at)",
            "CREATE INDEX incidents_resolved ON incidents (resolved_at)",
            """CREATE TABLE incident_updates (
                id TEXT PRIMARY KEY,
                incident_id TEXT NOT NULL REFERENCES incidents (id),
                seq INTEGER NOT NULL,
                status TEXT NOT NULL,
                body TEXT NOT NULL,
                components TEXT NOT NULL,
                source TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                UNIQUE (incident_id, seq)
            )""",
            """CREATE TABLE alert_states (
                group_key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                starts_at TEXT NOT NULL,
                status TEXT NOT NULL,
                alertname TEXT NOT NULL,
                labels TEXT NOT NULL,
                annotations TEXT NOT NULL,
                ends_at TEXT NOT NULL,
                incident_id TEXT REFERENCES incidents (id),
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (group_key, fingerprint, starts_at)
            )""",
            "CREATE INDEX alert_states_incident ON alert_states (incident_id)",
            """CREATE TABLE maintenances (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                body TEXT NOT NULL,
                components TEXT NOT NULL,
                scheduled_for DOUBLE PRECISION NOT NULL,
                scheduled_until DOUBLE PRECISION NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                cancelled INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX maintenances_until ON maintenances (scheduled_until)",
            """CREATE TABLE deliveries (
                id TEXT PRIMARY KEY,
                received_at DOUBLE PRECISION NOT NULL,
                group_key TEXT NOT NULL,
                status TEXT NOT NULL,
                action TEXT NOT NULL,
                incident_id TEXT
            )""",
            "CREATE INDEX deliveries_received ON deliveries (received_at)",
        ),
    ),
    (
        2,
        (
            # status changes that come from health checks and heartbeats (not from incidents), for the uptime bars
            """CREATE TABLE component_events (
                component TEXT NOT NULL,
                since DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                reasons TEXT NOT NULL,
                PRIMARY KEY (component, since)
            )""",
            "CREATE INDEX component_events_since ON component_events (since)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Tx(Protocol):
    """One open transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def lock(self, key: str) -> None:
        """Serialise writers on ``key`` until the transaction ends (PostgreSQL: an advisory lock)."""


class Database(Protocol):
    kind: str

    def transaction(self) -> contextlib.AbstractContextManager[Tx]: ...

    def close(self) -> None: ...


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def lock(self, key: str) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's write lock."""


class SQLiteDatabase:
    """One connection, one writer at a time; WAL with ``synchronous=FULL``: a committed write survives a crash."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._lock = threading.Lock()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
            self._conn.execute(f"PRAGMA {pragma}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.conn.execute(sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall()) if cursor.description is not None else []

    def lock(self, key: str) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


class PostgresDatabase:
    """One connection per process (reconnected when it breaks); several replicas may share the database."""

    kind = "postgres"

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self._psycopg = require("psycopg", extra="postgres", feature="the status page on PostgreSQL")
        self.url = url
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout)))
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                yield _PostgresTx(conn)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def open_database(target: str | Path) -> Database:
    """``postgresql://…`` (or ``postgres://``) opens PostgreSQL; anything else is a SQLite file path."""
    text = str(target)
    if re.match(r"^postgres(ql)?://", text):
        db: Database = PostgresDatabase(re.sub(r"^postgres://", "postgresql://", text))
    else:
        db = SQLiteDatabase(text.removeprefix("sqlite:///").removeprefix("sqlite://"))
    migrate(db)
    return db


def migrate(db: Database) -> int:
    """Create or upgrade the schema; returns the version. Concurrent callers (replicas) wait for each other."""
    with db.transaction() as tx:
        tx.lock("jobpulse-status-schema")
        tx.execute("CREATE TABLE IF NOT EXISTS status_schema (version INTEGER NOT NULL)")
        rows = tx.execute("SELECT version FROM status_schema")
        current = int(rows[0][0]) if rows else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the status database has schema version {current}, newer than this jobpulse ({SCHEMA_VERSION}); "
                "upgrade jobpulse"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                tx.execute(statement)
        if not rows:
            tx.execute("INSERT INTO status_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        elif current < SCHEMA_VERSION:
            tx.execute("UPDATE status_schema SET version = ?", (SCHEMA_VERSION,))
    return SCHEMA_VERSION


def redact_url(target: str | Path) -> str:
    """The storage target without a password, for logs and errors (an empty user name, ``/`` or ``@`` in the
    password included: :func:`jobpulse.redaction.redact_urls`)."""
    return redact_urls(str(target), "***")
