"""Each public component's status now, and its daily uptime over the page's history.

The status now is the worst of: its health checks (a critical check down is a major outage, a non-critical one
degraded performance), its worker heartbeats (fewer live workers than ``min_workers`` is a partial outage, none
a major outage), the open incidents that affect it, and a maintenance window in progress.

Uptime follows Statuspage's rule: time in a major outage counts fully as downtime, time in a partial outage
counts 30%; degraded performance and maintenance count as up (but colour the day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobpulse.spec.wire_status import Component, StatusPage
from jobpulse.status.model import STATUS_TEXT, Incident, Maintenance, worst

__all__ = ["ComponentState", "DayBar", "component_states", "health_states", "overall_indicator", "uptime_bars"]

DOWNTIME_WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}
DAY = 86400.0


@dataclass(frozen=True)
class ComponentState:
    component: Component
    status: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DayBar:
    date: str  # YYYY-MM-DD (UTC)
    status: str  # the worst status that day
    uptime: float  # 0..1
    incidents: tuple[str, ...] = field(default=())  # names


def component_states(
    page: StatusPage,
    *,
    checks: Sequence[Any] | None,
    live_workers: int | None,
    incidents: Iterable[Incident],
    maintenances: Iterable[Maintenance],
    now: float,
) -> list[ComponentState]:
    """``checks`` are health check results (objects with ``name``, ``up``, ``critical``, ``message``)."""
    health = health_states(page, checks=checks, live_workers=live_workers)
    open_incidents = [i for i in incidents if not i.resolved]
    active = [m for m in maintenances if m.status(now) == "in_progress"]
    out: list[ComponentState] = []
    for component in page.components:
        from_health, why = health[component.name]
        statuses: list[str] = [from_health]
        reasons: list[str] = list(why)
        for incident in open_incidents:
            affected = incident.components.get(component.name)
            if affected is not None:
                statuses.append(affected)
                reasons.append(f"incident: {incident.name}")
        if any(component.name in m.components for m in active):
            statuses.append("under_maintenance")
            reasons.append("maintenance in progress")
        out.append(ComponentState(component, worst(statuses), tuple(reasons)))
    return out


def health_states(
    page: StatusPage, *, checks: Sequence[Any] | None, live_workers: int | None
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each component's status from its health checks and heartbeats alone, with the reasons."""
    by_name = {c.name: c for c in checks or ()}
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for component in page.components:
        statuses: list[str] = []
        reasons: list[str] = []
        for name in component.checks:
            result = by_name.get(name)
            if result is not None and not result.up:
                statuses.append("major_outage" if result.critical else "degraded_performance")
                reasons.append(f"health check {name} is down")
        if component.min_workers is not None and live_workers is not None and live_workers < component.min_workers:
            statuses.append("major_outage" if live_workers == 0 else "partial_outage")
            reasons.append(f"{live_workers} of at least {component.min_workers} workers are sending heartbeats")
        out[component.name] = (worst(statuses), tuple(reasons))
    return out


def overall_indicator(states: Iterable[ComponentState], incidents: Iterable[Incident]) -> tuple[str, str]:
    """Statuspage's page indicator (none, minor, major, critical) and its description."""
    statuses = [s.status for s in states]
    worst_status = worst(statuses)
    impacts = {i.impact for i in incidents if not i.resolved}
    if worst_status == "major_outage" or "critical" in impacts:
        return "critical", "Major System Outage"
    if worst_status == "partial_outage" or "major" in impacts:
        return "major", "Partial System Outage"
    if worst_status == "degraded_performance" or "minor" in impacts:
        return "minor", "Minor Service Outage"
    if worst_status == "under_maintenance":
        return "maintenance", "Service Under Maintenance"
    return "none", "All Systems Operational"


def _day_start(ts: float) -> float:
    day = dt.datetime.fromtimestamp(ts, tz=dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def uptime_bars(
    component: Component,
    incidents: Iterable[Incident],
    maintenances: Iterable[Maintenance],
    *,
    days: int,
    now: float,
    health: Sequence[tuple[float, str]] = (),
) -> list[DayBar]:
    """One bar per UTC day, oldest first, ending today; today's uptime counts the hours so far.

    ``health`` is the component's status changes from its checks and heartbeats, (since, status), oldest first.
    """
    today = _day_start(now)
    periods = [
        (status, at, health[k + 1][0] if k + 1 < len(health) else now)
        for k, (at, status) in enumerate(health)
        if status != "operational"
    ]
    relevant = [i for i in incidents if component.name in i.components]
    windows = [m for m in maintenances if component.name in m.components and not m.cancelled]
    bars: list[DayBar] = []
    for n in range(days - 1, -1, -1):
        start = today - n * DAY
        end = min(start + DAY, now)
        length = max(end - start, 1.0)
        down = 0.0
        statuses: list[str] = []
        names: list[str] = []
        for incident in relevant:
            until = incident.resolved_at if incident.resolved_at is not None else now
            overlap = min(until, end) - max(incident.started_at, start)
            if overlap <= 0 and not (incident.started_at < end and until >= start):
                continue
            status = incident.components[component.name]
            statuses.append(status)
            names.append(incident.name)
            down += max(overlap, 0.0) * DOWNTIME_WEIGHT.get(status, 0.0)
        for status, begin, until in periods:
            overlap = min(until, end) - max(begin, start)
            if overlap > 0:
                statuses.append(status)
                names.append(f"{STATUS_TEXT[status]} (health checks or heartbeats)")
                down += overlap * DOWNTIME_WEIGHT.get(status, 0.0)
        for window in windows:
            if window.scheduled_for < end and window.scheduled_until > start:
                statuses.append("under_maintenance")
        date = dt.datetime.fromtimestamp(start, tz=dt.UTC).strftime("%Y-%m-%d")
        uptime = max(0.0, 1.0 - min(down, length) / length)
        bars.append(DayBar(date, worst(statuses), uptime, tuple(dict.fromkeys(names))))
    return bars


def uptime_ratio(bars: Sequence[DayBar]) -> float:
    """The mean of the days' uptime (every day weighs the same)."""
    return sum(b.uptime for b in bars) / len(bars) if bars else 1.0
