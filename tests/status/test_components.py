"""Component status and the daily uptime bars: incidents, maintenance and health-check/heartbeat history."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from jobpulse.status.components import uptime_bars
from jobpulse.status.db import MIGRATIONS, SCHEMA_VERSION
from jobpulse.status.model import Incident, Maintenance
from jobpulse.status.store import StatusStore
from tests.status.helpers import spec

NOON = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC).timestamp()
PAGE = spec().status_page
assert PAGE is not None
API = PAGE.components[0]


def _incident(status: str, start: float, end: float | None) -> Incident:
    return Incident(
        "i1", "g", "x", "resolved" if end else "investigating", "major", "alertmanager", {"api": status},
        start, start, start, None, None, end,
    )  # fmt: skip


def test_a_major_outage_counts_fully_and_a_partial_one_30_percent() -> None:
    major = uptime_bars(API, [_incident("major_outage", NOON - 3600, NOON - 1800)], [], days=3, now=NOON)
    assert [b.date for b in major] == ["2026-12-04", "2026-12-05", "2026-12-06"]
    assert major[-1].status == "major_outage" and major[-1].uptime == pytest.approx(1 - 1800 / 43200)
    assert major[0].uptime == 1.0 and major[0].status == "operational"
    partial = uptime_bars(API, [_incident("partial_outage", NOON - 3600, None)], [], days=1, now=NOON)
    assert partial[-1].uptime == pytest.approx(1 - 0.3 * 3600 / 43200)
    degraded = uptime_bars(API, [_incident("degraded_performance", NOON - 3600, None)], [], days=1, now=NOON)
    assert degraded[-1].uptime == 1.0 and degraded[-1].status == "degraded_performance"
    window = Maintenance("m", "m", "", ("api",), NOON - 7200, NOON - 3600, 0, 0, False)
    assert uptime_bars(API, [], [window], days=1, now=NOON)[-1].status == "under_maintenance"


def test_an_incident_across_midnight_marks_both_days() -> None:
    bars = uptime_bars(API, [_incident("major_outage", NOON - 14 * 3600, NOON - 11 * 3600)], [], days=2, now=NOON)
    assert [b.status for b in bars] == ["major_outage", "major_outage"]
    assert bars[0].uptime == pytest.approx(1 - 2 * 3600 / 86400)
    assert bars[1].uptime == pytest.approx(1 - 3600 / 43200)


def test_check_and_heartbeat_outages_count_like_incidents() -> None:
    health = [(NOON - 86400 * 5, "operational"), (NOON - 3600, "major_outage"), (NOON - 1800, "operational")]
    bars = uptime_bars(API, [], [], days=2, now=NOON, health=health)
    assert bars[-1].status == "major_outage" and bars[-1].uptime == pytest.approx(1 - 1800 / 43200)
    assert bars[-1].incidents == ("Major outage (health checks or heartbeats)",)
    assert bars[0].uptime == 1.0
    still_down = uptime_bars(API, [], [], days=1, now=NOON, health=[(NOON - 600, "partial_outage")])
    assert still_down[-1].uptime == pytest.approx(1 - 0.3 * 600 / 43200)


def test_recorded_health_changes_only_store_changes(tmp_path: Path) -> None:
    assert PAGE is not None
    store = StatusStore.open(tmp_path / "s.db", PAGE)
    try:
        assert store.record_health({"api": ("operational", ())}, now=NOON - 100) == 0  # nothing changed
        assert store.record_health({"api": ("major_outage", ("health check postgres is down",))}, now=NOON - 50) == 1
        assert store.record_health({"api": ("major_outage", ("health check postgres is down",))}, now=NOON - 40) == 0
        assert store.record_health({"api": ("operational", ())}, now=NOON - 20) == 1
        assert store.health_events(NOON - 30) == {"api": [(NOON - 50, "major_outage"), (NOON - 20, "operational")]}
        assert store.health_events(NOON - 60) == {"api": [(NOON - 50, "major_outage"), (NOON - 20, "operational")]}
    finally:
        store.close()


def test_a_version_1_database_is_migrated_keeping_its_incidents(tmp_path: Path) -> None:
    assert PAGE is not None
    db = tmp_path / "v1.db"
    with sqlite3.connect(db) as conn:  # the schema as the first release wrote it
        conn.execute("CREATE TABLE status_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO status_schema (version) VALUES (1)")
        for statement in MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO incidents VALUES ('abcdef012345', NULL, 'Old outage', 'resolved', 'major', 'operator',"
            ' \'{"api": "partial_outage"}\', 1, 1, 1, NULL, NULL, 2)'
        )
    store = StatusStore.open(db, PAGE)
    try:
        assert [i.name for i in store.history(0)] == ["Old outage"]
        assert store.record_health({"api": ("major_outage", ())}, now=NOON) == 1
    finally:
        store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM status_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 2
