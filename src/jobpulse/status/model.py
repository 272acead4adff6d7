"""What the status page stores and shows: incidents, their updates, maintenance windows; Statuspage's words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMPONENT_STATUSES",
    "IMPACTS",
    "INCIDENT_STATUSES",
    "Incident",
    "IncidentUpdate",
    "Maintenance",
    "iso",
    "parse_time",
    "worst",
]

#: best first; under_maintenance ranks above operational and below every problem
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("none", "minor", "major", "critical")
#: component status -> incident impact (Statuspage's mapping)
STATUS_IMPACT = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
IMPACT_STATUS = {"none": "operational", "minor": "degraded_performance", "major": "partial_outage"}
IMPACT_STATUS["critical"] = "major_outage"
STATUS_TEXT = {
    "operational": "Operational",
    "under_maintenance": "Under maintenance",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}


def worst(statuses: Any) -> str:
    """The worst component status of ``statuses`` (``operational`` for none)."""
    ranked = [COMPONENT_STATUSES.index(s) for s in statuses if s in COMPONENT_STATUSES]
    return COMPONENT_STATUSES[max(ranked)] if ranked else "operational"


def worst_impact(impacts: Any) -> str:
    ranked = [IMPACTS.index(i) for i in impacts if i in IMPACTS]
    return IMPACTS[max(ranked)] if ranked else "none"


def iso(ts: float | None) -> str | None:
    """Unix time -> ``2026-01-02T03:04:05.678Z`` (Statuspage's format)."""
    if ts is None:
        return None
    moment = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> float:
    """RFC 3339 (``2026-01-02T03:04:05Z``, fractions and offsets allowed) -> Unix time; ValueError otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Go prints nanoseconds; Python parses at most microseconds
    if "." in value:
        head, _, rest = value.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = head + "." + rest[: min(digits, 6)] + rest[digits:]
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment.timestamp()


@dataclass(frozen=True)
class IncidentUpdate:
    id: str
    incident_id: str
    seq: int
    status: str
    body: str
    components: dict[str, str]
    source: str
    created_at: float


@dataclass(frozen=True)
class Incident:
    id: str
    group_key: str | None
    name: str
    status: str
    impact: str
    source: str  # alertmanager | operator
    components: dict[str, str]  # component -> its status while the incident lasts
    created_at: float
    updated_at: float
    started_at: float
    identified_at: float | None
    monitoring_at: float | None
    resolved_at: float | None
    updates: tuple[IncidentUpdate, ...] = ()
    alerts: tuple[dict[str, Any], ...] = field(default=())

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"


@dataclass(frozen=True)
class Maintenance:
    id: str
    name: str
    body: str
    components: tuple[str, ...]
    scheduled_for: float
    scheduled_until: float
    created_at: float
    updated_at: float
    cancelled: bool

    def status(self, now: float) -> str:
        """Statuspage's scheduled maintenance status."""
        if self.cancelled or now >= self.scheduled_until:
            return "completed"
        return "in_progress" if now >= self.scheduled_for else "scheduled"
