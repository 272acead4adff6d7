"""JSON documents: Statuspage's public API v2 (``summary.json`` and friends) and the seed's incidents/history."""

from __future__ import annotations

from typing import Any

from jobpulse.status.components import ComponentState, uptime_ratio
from jobpulse.status.model import Incident, IncidentUpdate, Maintenance, iso
from jobpulse.status.service import Snapshot

__all__ = ["component_json", "history_json", "incident_json", "incidents_json", "summary_json"]


def _page(snapshot: Snapshot) -> dict[str, Any]:
    updated = max([snapshot.now - 0.0, *(i.updated_at for i in snapshot.unresolved)])
    return {
        "id": snapshot.page.path.strip("/").replace("/", "-") or "status",
        "name": snapshot.page.title,
        "url": (snapshot.page.url + snapshot.page.path) if snapshot.page.url else snapshot.page.path,
        "time_zone": "Etc/UTC",
        "updated_at": iso(updated),
    }


def component_json(state: ComponentState, snapshot: Snapshot) -> dict[str, Any]:
    c = state.component
    bars = snapshot.bars.get(c.name, [])
    return {
        "id": c.name,
        "name": c.title,
        "status": state.status,
        "created_at": None,
        "updated_at": iso(snapshot.now),
        "position": c.position,
        "description": c.description or None,
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": _page(snapshot)["id"],
        "group": False,
        "only_show_if_degraded": False,
        # jobpulse's additions (Statuspage consumers ignore unknown keys)
        "uptime_percent": round(100.0 * uptime_ratio(bars), 3),
        "reasons": list(state.reasons),
        "slos": [snapshot.slos[s].as_json() for s in c.slos if s in snapshot.slos],
    }


def _update_json(update: IncidentUpdate, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": update.id,
        "incident_id": update.incident_id,
        "status": update.status,
        "body": update.body,
        "created_at": iso(update.created_at),
        "updated_at": iso(update.created_at),
        "display_at": iso(update.created_at),
        "affected_components": [
            {"code": name, "name": names.get(name, name), "old_status": None, "new_status": status}
            for name, status in sorted(update.components.items())
        ],
        "source": update.source,
    }


def incident_json(incident: Incident, snapshot: Snapshot) -> dict[str, Any]:
    names = {c.name: c.title for c in snapshot.page.components}
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "impact": incident.impact,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "started_at": iso(incident.started_at),
        "identified_at": iso(incident.identified_at),
        "monitoring_at": iso(incident.monitoring_at),
        "resolved_at": iso(incident.resolved_at),
        "shortlink": f"{snapshot.page.url}{snapshot.page.path}#incident-{incident.id}",
        "page_id": _page(snapshot)["id"],
        "incident_updates": [_update_json(u, names) for u in incident.updates],
        "components": [
            {"id": name, "name": names.get(name, name), "status": status}
            for name, status in sorted(incident.components.items())
        ],
        "source": incident.source,
        "alerts": [
            {
                "alertname": a["alertname"],
                "status": a["status"],
                "severity": a["labels"].get("severity"),
                "summary": a["annotations"].get("summary"),
                "starts_at": a["starts_at"],
            }
            for a in incident.alerts
        ],
    }


def maintenance_json(item: Maintenance, snapshot: Snapshot) -> dict[str, Any]:
    names = {c.name: c.title for c in snapshot.page.components}
    return {
        "id": item.id,
        "name": item.name,
        "status": item.status(snapshot.now),
        "impact": "maintenance",
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "scheduled_for": iso(item.scheduled_for),
        "scheduled_until": iso(item.scheduled_until),
        "incident_updates": [
            {"id": item.id + "-0", "status": "scheduled", "body": item.body, "created_at": iso(item.created_at)}
        ],
        "components": [{"id": n, "name": names.get(n, n)} for n in item.components],
    }


def summary_json(snapshot: Snapshot) -> dict[str, Any]:
    indicator, description = snapshot.indicator
    return {
        "page": _page(snapshot),
        "components": [component_json(s, snapshot) for s in snapshot.components],
        "incidents": [incident_json(i, snapshot) for i in snapshot.unresolved],
        "scheduled_maintenances": [maintenance_json(m, snapshot) for m in snapshot.maintenances],
        "status": {"indicator": indicator, "description": description},
    }


def status_json(snapshot: Snapshot) -> dict[str, Any]:
    indicator, description = snapshot.indicator
    return {"page": _page(snapshot), "status": {"indicator": indicator, "description": description}}


def incidents_json(snapshot: Snapshot) -> dict[str, Any]:
    """``/status/incidents``: the current (unresolved) incidents."""
    return {"page": _page(snapshot), "incidents": [incident_json(i, snapshot) for i in snapshot.unresolved]}


def history_json(snapshot: Snapshot) -> dict[str, Any]:
    """``/status/history``: resolved incidents (newest first) and each component's daily uptime."""
    return {
        "page": _page(snapshot),
        "days": snapshot.page.history_days,
        "incidents": [incident_json(i, snapshot) for i in snapshot.history],
        "components": [
            {
                "id": s.component.name,
                "name": s.component.title,
                "uptime_percent": round(100.0 * uptime_ratio(snapshot.bars[s.component.name]), 3),
                "days": [
                    {"date": b.date, "status": b.status, "uptime_percent": round(100.0 * b.uptime, 3)}
                    for b in snapshot.bars[s.component.name]
                ],
            }
            for s in snapshot.components
        ],
    }
