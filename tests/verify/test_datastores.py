"""The Redis and PostgreSQL harness: real servers on loopback, password-protected, restartable."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from jobpulse.integrations.redis import sync_client
from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.datastores import PostgresServer, RedisServer, find_postgres_binary
from tests.datastores_fixtures import DATASTORE_PASSWORD

pytestmark = pytest.mark.integration


def test_redis_needs_its_password_and_listens_on_loopback_only(redis_server: RedisServer) -> None:
    assert redis_server.url.startswith("redis://:") and "@127.0.0.1:" in redis_server.url
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping() is True
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""
    finally:
        client.close()
    anonymous = sync_client(f"redis://127.0.0.1:{redis_server.port}/0", timeout=1.0)  # no retries
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    finally:
        anonymous.close()


def test_redis_kill_and_restart_on_the_same_port(redis_server: RedisServer) -> None:
    port = redis_server.port
    redis_server.kill()
    assert not redis_server.running
    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=1)
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
        redis_server.start()
        assert redis_server.port == port
        assert client.ping() is True
    finally:
        client.close()


def test_redis_start_twice_is_an_error(redis_server: RedisServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        redis_server.start()


def test_postgres_needs_its_password_and_is_tcp_loopback_only(postgres_server: PostgresServer) -> None:
    assert DATASTORE_PASSWORD in postgres_server.dsn  # the DSN carries it: the health tests check it never leaks
    with psycopg.connect(postgres_server.dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
    wrong = postgres_server.dsn.replace(DATASTORE_PASSWORD, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_postgres_shutdown_keeps_the_data_for_a_restart(postgres_server: PostgresServer) -> None:
    """An outage (the platform demo's db-down): the same cluster, tables and rows come back on the same port."""
    port = postgres_server.port
    with psycopg.connect(postgres_server.dsn, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS outage_survivors (n int)")
        conn.execute("INSERT INTO outage_survivors VALUES (17)")
    postgres_server.shutdown()
    try:
        assert not postgres_server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres_server.dsn, connect_timeout=2)
    finally:
        postgres_server.start()
    assert postgres_server.port == port
    with psycopg.connect(postgres_server.dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT n FROM outage_survivors").fetchall() == [(17,)]
        conn.execute("DROP TABLE outage_survivors")


def test_postgres_binaries_are_found_outside_path(postgres_bindir: Path) -> None:
    initdb = find_postgres_binary("initdb")
    assert initdb is not None and Path(initdb).name == "initdb"
    assert find_postgres_binary("no-such-postgres-binary") is None


def test_missing_postgres_binary_names_the_package(tmp_path: Path) -> None:
    server = PostgresServer(workdir=tmp_path, bindir=tmp_path / "empty-bin")
    with pytest.raises(MissingBinaryError, match="apt-get install postgresql"):
        server.start()
    server.stop()


def test_missing_redis_binary_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    server = RedisServer(workdir=tmp_path)
    with pytest.raises(MissingBinaryError, match="apt-get install redis-server"):
        server.start()
    server.stop()
