"""Database rows of the status store: the column lists it selects and the models they become."""

from __future__ import annotations

import json
import secrets
from typing import Any

from jobpulse.status.db import Row
from jobpulse.status.model import Incident, Maintenance

INCIDENT_COLUMNS = (
    "id, group_key, name, status, impact, source, components, created_at, updated_at, started_at, "
    "identified_at, monitoring_at, resolved_at"
)
MAINTENANCE_COLUMNS = "id, name, body, components, scheduled_for, scheduled_until, created_at, updated_at, cancelled"


def new_id() -> str:
    return secrets.token_hex(6)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def incident_from_row(row: Row) -> Incident:
    return Incident(
        id=row[0],
        group_key=row[1],
        name=row[2],
        status=row[3],
        impact=row[4],
        source=row[5],
        components=json.loads(row[6]),
        created_at=row[7],
        updated_at=row[8],
        started_at=row[9],
        identified_at=row[10],
        monitoring_at=row[11],
        resolved_at=row[12],
    )


def maintenance_from_row(row: Row) -> Maintenance:
    return Maintenance(
        id=row[0],
        name=row[1],
        body=row[2],
        components=tuple(json.loads(row[3])),
        scheduled_for=row[4],
        scheduled_until=row[5],
        created_at=row[6],
        updated_at=row[7],
        cancelled=bool(row[8]),
    )
