"""SQLAlchemy engine metrics against a real PostgreSQL (psycopg driver)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

from jobpulse import Telemetry
from jobpulse.integrations.sqlalchemy import EngineMetrics, instrument_engine, operation_of
from jobpulse.spec.load import load_spec_text
from jobpulse.verify.datastores import PostgresServer

pytestmark = pytest.mark.integration


def url(server: PostgresServer) -> str:
    return server.dsn.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def engine(postgres_server: PostgresServer) -> Iterator[Engine]:
    engine = create_engine(url(postgres_server), pool_size=3, max_overflow=2)
    yield engine
    engine.dispose()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_pool_gauges_follow_checkouts(engine: Engine) -> None:
    registry = CollectorRegistry()
    instrument_engine(engine, db="main", registry=registry)
    assert value(registry, "db_pool_size", db="main") == 3
    assert value(registry, "db_pool_max_overflow", db="main") == 2
    assert value(registry, "db_pool_checked_out_connections", db="main") == 0
    first, second = engine.connect(), engine.connect()
    assert value(registry, "db_pool_checked_out_connections", db="main") == 2
    first.close()
    assert value(registry, "db_pool_checked_out_connections", db="main") == 1
    second.close()
    assert value(registry, "db_pool_checked_out_connections", db="main") == 0


@pytest.mark.parametrize("pre_ping", [False, True])
def test_a_database_outage_does_not_count_down(postgres_server: PostgresServer, pre_ping: bool) -> None:
    """Issue 17 (the platform demo's db-down): while PostgreSQL is down SQLAlchemy sends ``checkin`` for each
    connection attempt that failed, without a ``checkout`` before it; counting those down drove the gauge to -289,
    and the pool exhaustion after the outage never reached 80%."""
    registry = CollectorRegistry()
    engine = create_engine(url(postgres_server), pool_size=2, max_overflow=1, pool_pre_ping=pre_ping)
    instrument_engine(engine, db="main", registry=registry)
    with engine.connect() as conn:  # a pooled connection, which the outage breaks
        conn.execute(text("SELECT 1"))
    postgres_server.shutdown()
    try:
        for _ in range(5):
            with pytest.raises(OperationalError), engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert value(registry, "db_pool_checked_out_connections", db="main") == 0
    finally:
        postgres_server.start()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert value(registry, "db_pool_checked_out_connections", db="main") == 1
    assert value(registry, "db_pool_checked_out_connections", db="main") == 0
    engine.dispose()


def test_connections_out_before_instrumenting_count(engine: Engine) -> None:
    early = engine.connect()
    registry = CollectorRegistry()
    instrument_engine(engine, db="late", registry=registry)
    assert value(registry, "db_pool_checked_out_connections", db="late") == 1
    later = engine.connect()
    assert value(registry, "db_pool_checked_out_connections", db="late") == 2
    early.close()
    later.close()
    assert value(registry, "db_pool_checked_out_connections", db="late") == 0


def test_query_durations_by_operation_and_transactions(engine: Engine) -> None:
    registry = CollectorRegistry()
    metrics = instrument_engine(engine, db="main", registry=registry)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS jp_items (id int primary key, name text)"))
        conn.execute(text("DELETE FROM jp_items"))
        conn.execute(text("INSERT INTO jp_items VALUES (1, 'a'), (2, 'b')"))
        conn.execute(text("UPDATE jp_items SET name = 'c' WHERE id = 2"))
        for _ in range(3):
            assert conn.execute(text("SELECT count(*) FROM jp_items")).scalar() == 2
        conn.execute(text("SELECT pg_sleep(0.2)"))
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO jp_items VALUES (3, 'x')"))
        conn.rollback()
    assert value(registry, "db_transactions_total", db="main", outcome="commit") == 1
    assert value(registry, "db_transactions_total", db="main", outcome="rollback") == 1
    for op, count in {"select": 4, "insert": 2, "update": 1, "delete": 1, "other": 1}.items():
        assert value(registry, "db_query_duration_seconds_count", db="main", operation=op) == count, op
    # the pg_sleep(0.2) select is in the histogram: more than 0.2 s of select time in total
    assert value(registry, "db_query_duration_seconds_sum", db="main", operation="select") >= 0.2
    assert value(registry, "db_query_duration_seconds_bucket", db="main", operation="select", le="0.1") == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jp_items")).scalar() == 2  # the insert was rolled back
    metrics.remove()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert value(registry, "db_query_duration_seconds_count", db="main", operation="select") == 5


def test_errors_are_counted_and_still_raised(engine: Engine) -> None:
    registry = CollectorRegistry()
    instrument_engine(engine, db="main", registry=registry)
    with engine.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("SELECT * FROM no_such_table_here"))
    assert value(registry, "db_query_errors_total", db="main") == 1
    assert value(registry, "db_query_duration_seconds_count", db="main", operation="select") == 1
    assert value(registry, "db_pool_checked_out_connections", db="main") == 0


SPEC = """\
version: jobpulse/v1
service: {name: dbtest}
metrics:
  - {name: app_db_pool_size, type: gauge, help: Pool size., labels: {db: {values: [main]}}}
  - {name: app_db_pool_max_overflow, type: gauge, help: Overflow., labels: {db: {values: [main]}}}
  - {name: app_db_connections_in_use, type: gauge, help: In use., labels: {db: {values: [main]}}}
  - name: app_db_query_seconds
    type: histogram
    unit: seconds
    help: Query time.
    labels:
      db: {values: [main]}
      operation: {values: [select, insert, update, delete, other]}
  - name: app_db_transactions_total
    type: counter
    help: Transactions.
    labels: {db: {values: [main]}, outcome: {values: [commit, rollback]}}
  - {name: app_db_errors_total, type: counter, help: Errors., labels: {db: {values: [main]}}}
"""


def test_spec_instruments_under_the_spec_names(engine: Engine) -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry(load_spec_text(SPEC), registry=registry, strict=True)
    names = {
        "pool_size": "app_db_pool_size",
        "pool_max_overflow": "app_db_pool_max_overflow",
        "checked_out": "app_db_connections_in_use",
        "query_duration": "app_db_query_seconds",
        "transactions": "app_db_transactions_total",
        "errors": "app_db_errors_total",
    }
    instrument_engine(engine, db="main", telemetry=telemetry, names=names)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        assert value(registry, "app_db_connections_in_use", db="main") == 1
    assert value(registry, "app_db_pool_size", db="main") == 3
    assert value(registry, "app_db_query_seconds_count", db="main", operation="select") == 1
    assert value(registry, "app_db_transactions_total", db="main", outcome="commit") == 1
    with pytest.raises(ValueError, match="unknown metric roles"):
        EngineMetrics(engine, registry=None, names={"latency": "x"})


@pytest.mark.anyio
async def test_async_engine(postgres_server: PostgresServer) -> None:
    registry = CollectorRegistry()
    engine = create_async_engine(url(postgres_server), pool_size=2, max_overflow=0)
    instrument_engine(engine, db="async", registry=registry)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT 41 + 1"))).scalar() == 42
            assert value(registry, "db_pool_checked_out_connections", db="async") == 1
    finally:
        await engine.dispose()
    assert value(registry, "db_query_duration_seconds_count", db="async", operation="select") == 1
    assert value(registry, "db_transactions_total", db="async", outcome="commit") == 1
    assert value(registry, "db_pool_checked_out_connections", db="async") == 0


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("SELECT 1", "select"),
        ("  /* comment */ insert into t values (1)", "insert"),
        ("-- note\nUPDATE t SET a = 1", "update"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("WITH gone AS (SELECT 1) DELETE FROM t", "delete"),
        ("CREATE TABLE t (id int)", "other"),
        ("'; DROP TABLE users; --", "other"),
        ("", "other"),
    ],
)
def test_operation_label_is_bounded(statement: str, operation: str) -> None:
    assert operation_of(statement) == operation
