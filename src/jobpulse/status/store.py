"""Incidents, updates and maintenance windows in the database, and how Alertmanager's deliveries change them.

A delivery is applied in one transaction. Idempotence comes from the alert states: each alert of a group is
stored under (group key, fingerprint, startsAt). A state only moves forward — firing to resolved — so a
repeated delivery changes nothing and a late, out-of-order "firing" for an alert already resolved is ignored.
Alerts of one group become one incident (the database allows one open incident per group key); the incident
gets an update when the set of firing alerts changes and is resolved when none is left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jobpulse.spec.wire_status import StatusPage
from jobpulse.status.alert_text import firing_text, incident_title, resolved_text
from jobpulse.status.db import Database, Tx, open_database
from jobpulse.status.model import (
    STATUS_IMPACT,
    Incident,
    IncidentUpdate,
    Maintenance,
    worst,
    worst_impact,
)
from jobpulse.status.rows import (
    INCIDENT_COLUMNS,
    MAINTENANCE_COLUMNS,
    dumps,
    incident_from_row,
    maintenance_from_row,
    new_id,
)
from jobpulse.status.webhook import Alert, WebhookPayload

__all__ = ["DeliveryResult", "StatusStore"]


@dataclass(frozen=True)
class DeliveryResult:
    """What a webhook delivery did: opened, updated, resolved, unchanged or ignored (no public component)."""

    action: str
    incident_id: str | None = None


class StatusStore:
    """The status page's data; every method is synchronous (call it in a thread from async code)."""

    def __init__(self, db: Database, page: StatusPage) -> None:
        self.db = db
        self.page = page

    @classmethod
    def open(cls, target: str | Path, page: StatusPage) -> StatusStore:
        """A SQLite file path, or a ``postgresql://`` URL; creates or migrates the schema."""
        return cls(open_database(target), page)

    def close(self) -> None:
        self.db.close()

    # -- Alertmanager ---------------------------------------------------------------------------------
    def apply_alertmanager(self, payload: WebhookPayload, now: float | None = None) -> DeliveryResult:
        now = time.time() if now is None else now
        public = [a for a in payload.alerts if self.page.affected(a.alertname, a.labels)]
        if not public:
            return DeliveryResult("ignored")
        key = payload.groupKey
        with self.db.transaction() as tx:
            tx.lock("jobpulse-status-group:" + key)
            changed = self._record_alerts(tx, key, public, now)
            firing = self._firing(tx, key)
            rows = tx.execute(
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE group_key = ? AND status <> 'resolved'", (key,)
            )
            current = incident_from_row(rows[0]) if rows else None
            result = self._transition(tx, payload, key, current, firing, changed, now)
            tx.execute(
                "INSERT INTO deliveries (id, received_at, group_key, status, action, incident_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (new_id(), now, key[:4096], payload.status, result.action, result.incident_id),
            )
            tx.execute("DELETE FROM deliveries WHERE received_at < ?", (now - 7 * 86400,))
            return result

    def _record_alerts(self, tx: Tx, key: str, alerts: list[Alert], now: float) -> list[Alert]:
        """Store each alert's state if it moves forward; returns the alerts whose state changed."""
        changed: list[Alert] = []
        for alert in alerts:
            rows = tx.execute(
                "SELECT status FROM alert_states WHERE group_key = ? AND fingerprint = ? AND starts_at = ?",
                (key, alert.fingerprint, alert.startsAt),
            )
            before = rows[0][0] if rows else None
            if before == "resolved" or before == alert.status:
                continue  # a repeat, or a late delivery of an older state
            values = (
                alert.status,
                alert.alertname,
                dumps(alert.labels),
                dumps(alert.annotations),
                alert.endsAt,
                now,
            )
            if before is None:
                tx.execute(
                    "INSERT INTO alert_states (group_key, fingerprint, starts_at, status, alertname, labels,"
                    " annotations, ends_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, alert.fingerprint, alert.startsAt, *values),
                )
            else:
                tx.execute(
                    "UPDATE alert_states SET status = ?, alertname = ?, labels = ?, annotations = ?, ends_at = ?,"
                    " updated_at = ? WHERE group_key = ? AND fingerprint = ? AND starts_at = ?",
                    (*values, key, alert.fingerprint, alert.startsAt),
                )
            changed.append(alert)
        return changed

    def _firing(self, tx: Tx, key: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        rows = tx.execute(
            "SELECT alertname, labels, annotations FROM alert_states WHERE group_key = ? AND status = 'firing'"
            " ORDER BY alertname, fingerprint",
            (key,),
        )
        return [(row[0], json.loads(row[1]), json.loads(row[2])) for row in rows]

    def _components(self, firing: Iterable[tuple[str, dict[str, str], dict[str, str]]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for alertname, labels, _ in firing:
            for component in self.page.affected(alertname, labels):
                status = component.status_for(alertname, labels.get("severity", ""), self.page.severity_status)
                out[component.name] = worst([out.get(component.name, "operational"), status])
        return out

    def _transition(
        self,
        tx: Tx,
        payload: WebhookPayload,
        key: str,
        current: Incident | None,
        firing: list[tuple[str, dict[str, str], dict[str, str]]],
        changed: list[Alert],
        now: float,
    ) -> DeliveryResult:
        newly_firing = [a for a in changed if a.status == "firing"]
        if current is None:
            if not newly_firing:
                return DeliveryResult("unchanged")
            components = self._components(firing)
            impact = worst_impact(STATUS_IMPACT[s] for s in components.values())
            incident_id = new_id()
            started = min(a.starts for a in newly_firing)
            tx.execute(
                f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, key, incident_title(payload, firing), "investigating", impact, "alertmanager",
                 dumps(components), now, now, min(started, now), None, None, None),
            )  # fmt: skip
            self._link(tx, key, incident_id)
            self._add_update(tx, incident_id, "investigating", firing_text(firing), components, "alertmanager", now)
            return DeliveryResult("opened", incident_id)
        if not firing:
            self._set_status(tx, current, "resolved", now)
            self._add_update(tx, current.id, "resolved", resolved_text(changed), {}, "alertmanager", now)
            return DeliveryResult("resolved", current.id)
        if not changed:
            return DeliveryResult("unchanged", current.id)
        components = self._components(firing)
        impact = worst_impact([current.impact, *(STATUS_IMPACT[s] for s in components.values())])
        tx.execute(
            "UPDATE incidents SET components = ?, impact = ?, updated_at = ? WHERE id = ?",
            (dumps(components), impact, now, current.id),
        )
        self._link(tx, key, current.id)
        self._add_update(tx, current.id, current.status, firing_text(firing), components, "alertmanager", now)
        return DeliveryResult("updated", current.id)

    def _link(self, tx: Tx, key: str, incident_id: str) -> None:
        tx.execute(
            "UPDATE alert_states SET incident_id = ? WHERE group_key = ? AND status = 'firing' AND incident_id IS NULL",
            (incident_id, key),
        )

    def _add_update(
        self, tx: Tx, incident_id: str, status: str, body: str, components: Mapping[str, str], source: str, now: float
    ) -> IncidentUpdate:
        rows = tx.execute("SELECT COALESCE(MAX(seq), 0) FROM incident_updates WHERE incident_id = ?", (incident_id,))
        seq = int(rows[0][0]) + 1
        update = IncidentUpdate(new_id(), incident_id, seq, status, body, dict(components), source, now)
        tx.execute(
            "INSERT INTO incident_updates (id, incident_id, seq, status, body, components, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (update.id, incident_id, seq, status, body, dumps(update.components), source, now),
        )
        return update

    def _set_status(self, tx: Tx, incident: Incident, status: str, now: float) -> None:
        column = {"identified": "identified_at", "monitoring": "monitoring_at", "resolved": "resolved_at"}.get(status)
        if column is None:
            tx.execute("UPDATE incidents SET status = ?, updated_at = ? WHERE id = ?", (status, now, incident.id))
        else:
            tx.execute(
                f"UPDATE incidents SET status = ?, updated_at = ?, {column} = COALESCE({column}, ?) WHERE id = ?",
                (status, now, now, incident.id),
            )

    # -- operators ------------------------------------------------------------------------------------
    def create_incident(
        self,
        name: str,
        body: str,
        *,
        components: Mapping[str, str],
        status: str = "investigating",
        impact: str | None = None,
        now: float | None = None,
    ) -> Incident:
        now = time.time() if now is None else now
        impact = impact or worst_impact(STATUS_IMPACT[s] for s in components.values())
        incident_id = new_id()
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, None, name, "investigating", impact, "operator", dumps(dict(components)),
                 now, now, now, None, None, None),
            )  # fmt: skip
            created = self._get(tx, incident_id)
            assert created is not None
            if status != "investigating":
                self._set_status(tx, created, status, now)
            self._add_update(tx, incident_id, status, body, components, "operator", now)
        found = self.incident(incident_id)
        assert found is not None
        return found

    def add_update(
        self,
        incident_id: str,
        status: str,
        body: str,
        *,
        components: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> IncidentUpdate | None:
        """An operator's update (identified, monitoring, resolved, a message); None for an unknown incident."""
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            incident = self._get(tx, incident_id, lock=True)
            if incident is None:
                return None
            if components is not None:
                impact = worst_impact(STATUS_IMPACT[s] for s in components.values())
                tx.execute(
                    "UPDATE incidents SET components = ?, impact = ? WHERE id = ?",
                    (dumps(dict(components)), worst_impact([impact, incident.impact]), incident_id),
                )
            self._set_status(tx, incident, status, now)
            shown = incident.components if components is None else components
            return self._add_update(
                tx, incident_id, status, body, {} if status == "resolved" else shown, "operator", now
            )

    def create_maintenance(
        self, name: str, body: str, components: Iterable[str], start: float, end: float, now: float | None = None
    ) -> Maintenance:
        now = time.time() if now is None else now
        item = Maintenance(new_id(), name, body, tuple(components), start, end, now, now, False)
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO maintenances ({MAINTENANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.id, name, body, dumps(list(item.components)), start, end, now, now, 0),
            )
        return item

    def cancel_maintenance(self, maintenance_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            found = tx.execute("SELECT id FROM maintenances WHERE id = ?", (maintenance_id,))
            if not found:
                return False
            tx.execute("UPDATE maintenances SET cancelled = 1, updated_at = ? WHERE id = ?", (now, maintenance_id))
        return True

    # -- health: status changes from checks and heartbeats ---------------------------------------------
    def record_health(self, statuses: Mapping[str, tuple[str, tuple[str, ...]]], now: float | None = None) -> int:
        """Store each component's status from its checks and heartbeats when it changed; returns how many did."""
        now = time.time() if now is None else now
        changed = 0
        with self.db.transaction() as tx:
            tx.lock("jobpulse-status-health")
            for component, (status, reasons) in sorted(statuses.items()):
                rows = tx.execute(
                    "SELECT status FROM component_events WHERE component = ? ORDER BY since DESC LIMIT 1", (component,)
                )
                if (rows[0][0] if rows else "operational") == status:
                    continue
                tx.execute(
                    "INSERT INTO component_events (component, since, status, reasons) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (component, since) DO NOTHING",
                    (component, now, status, dumps(list(reasons))),
                )
                changed += 1
        return changed

    def health_events(self, since: float) -> dict[str, list[tuple[float, str]]]:
        """Per component, its (since, status) changes from ``since`` on, led by the one in force at ``since``."""
        out: dict[str, list[tuple[float, str]]] = {}
        with self.db.transaction() as tx:
            before = tx.execute(
                "SELECT e.component, e.since, e.status FROM component_events e WHERE e.since = (SELECT MAX(since)"
                " FROM component_events l WHERE l.component = e.component AND l.since < ?)",
                (since,),
            )
            after = tx.execute(
                "SELECT component, since, status FROM component_events WHERE since >= ? ORDER BY since", (since,)
            )
        for component, at, status in [*before, *after]:
            out.setdefault(component, []).append((float(at), status))
        return out

    # -- reading --------------------------------------------------------------------------------------
    def _get(self, tx: Tx, incident_id: str, *, lock: bool = False) -> Incident | None:
        if lock:
            tx.lock("jobpulse-status-incident:" + incident_id)
        rows = tx.execute(f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
        return incident_from_row(rows[0]) if rows else None

    def incident(self, incident_id: str) -> Incident | None:
        with self.db.transaction() as tx:
            found = self._get(tx, incident_id)
            return None if found is None else self._with_details(tx, [found])[0]

    def unresolved(self) -> list[Incident]:
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE status <> 'resolved' ORDER BY started_at DESC, id"
            )
            return self._with_details(tx, [incident_from_row(r) for r in rows])

    def history(self, since: float, limit: int = 100) -> list[Incident]:
        """Resolved incidents that started or ended since ``since``, newest first."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE status = 'resolved' AND resolved_at >= ?"
                " ORDER BY resolved_at DESC, id LIMIT ?",
                (since, int(limit)),
            )
            return self._with_details(tx, [incident_from_row(r) for r in rows])

    def overlapping(self, start: float, end: float) -> list[Incident]:
        """Incidents that were open at some time in [start, end) (for the uptime bars)."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE started_at < ? AND"
                " (resolved_at IS NULL OR resolved_at >= ?) ORDER BY started_at",
                (end, start),
            )
            return [incident_from_row(r) for r in rows]

    def maintenances(self, since: float) -> list[Maintenance]:
        """Maintenance windows that end after ``since`` (cancelled ones included), soonest first."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                f"SELECT {MAINTENANCE_COLUMNS} FROM maintenances WHERE scheduled_until >= ? ORDER BY scheduled_for, id",
                (since,),
            )
            return [maintenance_from_row(r) for r in rows]

    def _with_details(self, tx: Tx, incidents: list[Incident]) -> list[Incident]:
        out: list[Incident] = []
        for incident in incidents:
            rows = tx.execute(
                "SELECT id, incident_id, seq, status, body, components, source, created_at FROM incident_updates"
                " WHERE incident_id = ? ORDER BY seq DESC",
                (incident.id,),
            )
            updates = tuple(
                IncidentUpdate(r[0], r[1], int(r[2]), r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows
            )
            alerts = tx.execute(
                "SELECT alertname, status, labels, annotations, starts_at, ends_at, fingerprint FROM alert_states"
                " WHERE incident_id = ? ORDER BY alertname, fingerprint LIMIT 100",
                (incident.id,),
            )
            details = tuple(
                {
                    "alertname": a[0],
                    "status": a[1],
                    "labels": json.loads(a[2]),
                    "annotations": json.loads(a[3]),
                    "starts_at": a[4],
                    "ends_at": a[5],
                    "fingerprint": a[6],
                }
                for a in alerts
            )
            out.append(
                Incident(**{**incident.__dict__, "updates": updates, "alerts": details})  # frozen: rebuild
            )
        return out
