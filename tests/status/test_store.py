"""Incidents from Alertmanager deliveries: one per group, updates, resolution, idempotence — SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobpulse.status.store import StatusStore
from jobpulse.status.webhook import WebhookPayload
from jobpulse.verify.datastores import PostgresServer
from tests.status.helpers import SPEC, alert, payload, spec

T0 = 1_796_000_000.0


def _deliver(store: StatusStore, *alerts: dict, key: str = "g1", now: float = T0) -> tuple[str, str | None]:
    result = store.apply_alertmanager(WebhookPayload.model_validate(payload(*alerts, group_key=key)), now=now)
    return result.action, result.incident_id


def _postgres_url(server: PostgresServer) -> str:
    import psycopg

    name = "status_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StatusStore]:
    if request.param == "sqlite":
        target = str(tmp_path / "status.db")
    else:
        target = _postgres_url(request.getfixturevalue("postgres_server"))
    opened = StatusStore.open(target, spec().status_page)  # type: ignore[arg-type]
    yield opened
    opened.close()


def test_a_firing_group_opens_one_incident_and_resolving_it_moves_it_to_history(store: StatusStore) -> None:
    a, b = alert("ApiDown", instance="a"), alert("ApiDown", instance="b")
    action, incident_id = _deliver(store, a, b)
    assert action == "opened"
    [incident] = store.unresolved()
    assert incident.id == incident_id
    assert incident.status == "investigating"
    assert incident.components == {"api": "major_outage"}
    assert incident.impact == "critical"
    assert incident.name == "ApiDown summary"
    assert {x["labels"]["instance"] for x in incident.alerts} == {"a", "b"}
    assert "2 alerts are firing" in incident.updates[0].body

    resolved = [{**a, "status": "resolved", "endsAt": "2026-12-06T10:05:00Z"}, {**b, "status": "resolved"}]
    assert _deliver(store, *resolved, now=T0 + 300) == ("resolved", incident_id)
    assert store.unresolved() == []
    [old] = store.history(T0 - 1)
    assert old.id == incident_id and old.resolved_at == T0 + 300
    assert [u.status for u in old.updates] == ["resolved", "investigating"]


def test_a_repeated_delivery_changes_nothing(store: StatusStore) -> None:
    a = alert("ApiDown")
    _, incident_id = _deliver(store, a)
    for n in range(3):  # repeat_interval and retries deliver the same group again
        assert _deliver(store, a, now=T0 + 60 * (n + 1)) == ("unchanged", incident_id)
    [incident] = store.unresolved()
    assert len(incident.updates) == 1


def test_a_group_change_adds_an_update_and_raises_the_impact(store: StatusStore) -> None:
    slow = alert("ApiSlow", severity="warning")
    _, incident_id = _deliver(store, slow, key="g")
    [incident] = store.unresolved()
    assert incident.components == {"api": "degraded_performance"} and incident.impact == "minor"
    down = alert("ApiDown")
    assert _deliver(store, slow, down, key="g", now=T0 + 30) == ("updated", incident_id)
    [incident] = store.unresolved()
    assert incident.components == {"api": "major_outage"} and incident.impact == "critical"
    assert len(incident.updates) == 2 and "2 alerts are firing" in incident.updates[0].body
    # one alert of the group resolves: an update, the incident stays open with the remaining alert
    assert _deliver(store, {**down, "status": "resolved"}, slow, key="g", now=T0 + 60) == ("updated", incident_id)
    [incident] = store.unresolved()
    assert incident.components == {"api": "degraded_performance"}
    assert incident.impact == "critical"  # the impact is the worst it has been


def test_out_of_order_deliveries_never_reopen_a_resolved_incident(store: StatusStore) -> None:
    a = alert("ApiDown")
    _, first = _deliver(store, a)
    _deliver(store, {**a, "status": "resolved"}, now=T0 + 120)
    # a retry of the old firing delivery arrives late
    assert _deliver(store, a, now=T0 + 130) == ("unchanged", None)
    assert store.unresolved() == []
    # the same alert firing again later (a new startsAt) is a new incident
    again = alert("ApiDown", starts="2026-12-06T11:00:00Z")
    action, second = _deliver(store, again, now=T0 + 3600)
    assert action == "opened" and second != first


def test_a_resolved_delivery_before_its_firing_one_opens_nothing(store: StatusStore) -> None:
    a = alert("ApiDown")
    assert _deliver(store, {**a, "status": "resolved"}) == ("unchanged", None)
    assert _deliver(store, a, now=T0 + 1) == ("unchanged", None)
    assert store.unresolved() == [] and store.history(0) == []


def test_alerts_of_no_public_component_are_ignored(store: StatusStore) -> None:
    assert _deliver(store, alert("InternalOnly", severity="warning"))[0] == "ignored"
    # an alert is public by name, by its slo label or by a component label
    assert _deliver(store, alert("Other", slo="api-availability"), key="g2")[0] == "opened"
    assert _deliver(store, alert("Other2", component="workers"), key="g3")[0] == "opened"
    assert {tuple(i.components) for i in store.unresolved()} == {("api",), ("workers",)}


def test_separate_groups_are_separate_incidents(store: StatusStore) -> None:
    _deliver(store, alert("ApiDown"), key="g1")
    _deliver(store, alert("JobsFailing", severity="warning"), key="g2")
    assert len(store.unresolved()) == 2


def test_operators_update_resolve_and_schedule_maintenance(store: StatusStore) -> None:
    _, incident_id = _deliver(store, alert("ApiDown"))
    assert incident_id is not None
    store.add_update(incident_id, "identified", "A bad deploy; rolling back.", now=T0 + 10)
    store.add_update(incident_id, "monitoring", "Rolled back.", now=T0 + 20)
    [incident] = store.unresolved()
    assert incident.status == "monitoring"
    assert (incident.identified_at, incident.monitoring_at) == (T0 + 10, T0 + 20)
    assert store.add_update("000000000000", "identified", "x") is None
    store.add_update(incident_id, "resolved", "Fixed.", now=T0 + 30)
    assert store.unresolved() == []
    # the alert is still firing in Alertmanager: its next delivery does not reopen what an operator resolved
    assert _deliver(store, alert("ApiDown"), now=T0 + 40)[0] == "unchanged"

    manual = store.create_incident("Payments slow", "Looking into it.", components={"api": "partial_outage"})
    assert manual.source == "operator" and manual.impact == "major"
    window = store.create_maintenance("DB upgrade", "PostgreSQL 16", ["api"], T0 + 3600, T0 + 7200, now=T0)
    assert window.status(T0) == "scheduled" and window.status(T0 + 4000) == "in_progress"
    assert store.cancel_maintenance(window.id, now=T0 + 10)
    assert store.maintenances(T0)[0].status(T0 + 4000) == "completed"
    assert not store.cancel_maintenance("ffffffffffff")


def test_nothing_is_lost_when_the_store_is_reopened(tmp_path: Path) -> None:
    page = spec().status_page
    assert page is not None
    first = StatusStore.open(tmp_path / "s.db", page)
    _, incident_id = _deliver(first, alert("ApiDown"))
    first.close()
    second = StatusStore.open(tmp_path / "s.db", page)  # migrate() again: a no-op on the current schema
    [incident] = second.unresolved()
    assert incident.id == incident_id
    assert _deliver(second, alert("ApiDown"), now=T0 + 60) == ("unchanged", incident_id)
    second.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    page = spec().status_page
    assert page is not None
    StatusStore.open(tmp_path / "s.db", page).close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE status_schema SET version = 99")
    with pytest.raises(RuntimeError, match="schema version 99"):
        StatusStore.open(tmp_path / "s.db", page)


def test_two_replicas_receiving_the_same_delivery_make_one_incident(postgres_server: PostgresServer) -> None:
    import threading

    url = _postgres_url(postgres_server)
    page = spec().status_page
    assert page is not None
    replicas = [StatusStore.open(url, page) for _ in range(4)]
    body = WebhookPayload.model_validate(payload(alert("ApiDown"), group_key="shared"))
    results: list[str] = []
    start = threading.Barrier(len(replicas))

    def deliver(store: StatusStore) -> None:
        start.wait()
        results.append(store.apply_alertmanager(body, now=T0).action)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert sorted(results) == ["opened", "unchanged", "unchanged", "unchanged"]
        assert len(replicas[0].unresolved()) == 1
    finally:
        for store in replicas:
            store.close()


def test_an_alert_with_its_own_status_overrides_its_severity(tmp_path: Path) -> None:
    text = SPEC.replace("alerts: [JobsFailing]", "alerts: [{name: JobsFailing, status: major_outage}]")
    page = spec(text).status_page
    assert page is not None
    store = StatusStore.open(tmp_path / "s.db", page)
    try:
        _deliver(store, alert("JobsFailing", severity="warning"))
        [incident] = store.unresolved()
        assert incident.components == {"workers": "major_outage"} and incident.impact == "critical"
    finally:
        store.close()
