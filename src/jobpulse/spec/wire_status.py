"""Wire models for the optional ``status_page`` section: public components and where their status comes from.

Cross-references (a component naming an alert, an SLO or a health check) are checked when the spec is
resolved (:func:`resolve_status_page`), so that each problem names its file:line:column.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]
#: worst last; ``under_maintenance`` ranks above operational and below every problem
STATUS_ORDER = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
DEFAULT_SEVERITY_STATUS: dict[str, str] = {
    "critical": "major_outage",
    "page": "partial_outage",
    "warning": "degraded_performance",
    "warn": "degraded_performance",
    "ticket": "degraded_performance",
}
PATH_PATTERN = r"^(/[A-Za-z0-9._~-]+)+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeartbeatsSpec(_Strict):
    """Worker heartbeats: fewer than ``min_workers`` live workers is a partial outage, none a major one."""

    min_workers: int = Field(default=1, ge=1, le=10_000)


class AlertRefSpec(_Strict):
    """An alert with the status it gives the component, whatever its severity."""

    name: str = Field(min_length=1)
    status: ComponentStatus


class ComponentSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40, description="the component's id")
    title: str = Field(default="", max_length=80, description="the name shown on the page (default: name)")
    description: str = Field(default="", max_length=500)
    checks: list[str] = Field(default_factory=list, description="health check (dependency) names")
    heartbeats: HeartbeatsSpec | None = None
    slos: list[str] = Field(default_factory=list, description="SLO names shown with the component")
    alerts: list[str | AlertRefSpec] = Field(
        default_factory=list,
        description="alerts that affect the component: a name, or {name, status} to set the status it gives"
        " (SLO burn alerts come with `slos`)",
    )


class StatusPageSpec(_Strict):
    title: str = Field(default="", max_length=120, description="page title (default: the service title)")
    url: str = Field(default="", description="the page's public URL, for links in the feed and summary.json")
    path: str = Field(default="/status", pattern=PATH_PATTERN, description="where the page is served")
    webhook_url: str = Field(
        default="",
        description="where Alertmanager reaches the status service (default: http://127.0.0.1:8080<path>/webhook/alertmanager)",
    )
    credentials_file: str = Field(
        default="/etc/alertmanager/status-page-token",
        min_length=1,
        description="the file Alertmanager reads the webhook's bearer token from",
    )
    history_days: int = Field(default=90, ge=1, le=366)
    severity_status: dict[str, ComponentStatus] = Field(
        default_factory=dict, description="alert severity -> component status (merged over the defaults)"
    )
    components: list[ComponentSpec] = Field(min_length=1)

    @field_validator("url", "webhook_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


# --- resolved -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    name: str
    title: str
    description: str
    position: int
    checks: tuple[str, ...]
    min_workers: int | None  # None: heartbeats are not part of this component
    slos: tuple[str, ...]
    alerts: tuple[str, ...]  # every alert name that affects it (SLO burn and absent alerts included)
    alert_status: dict[str, str] = field(default_factory=dict)  # alert name -> status, overriding the severity

    def status_for(self, alertname: str, severity: str, severity_status: dict[str, str]) -> str:
        """The status a firing alert gives this component."""
        return self.alert_status.get(alertname) or severity_status.get(severity, "degraded_performance")


@dataclass(frozen=True)
class StatusPage:
    title: str
    url: str
    path: str
    webhook_url: str
    credentials_file: str
    history_days: int
    severity_status: dict[str, str]
    components: tuple[Component, ...]

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def affected(self, alertname: str, labels: dict[str, str]) -> list[Component]:
        """The components an alert affects: by alert name, by its ``slo`` label or by a ``component`` label."""
        slo = labels.get("slo")
        named = labels.get("component")
        return [c for c in self.components if alertname in c.alerts or (slo and slo in c.slos) or named == c.name]

    @property
    def alert_names(self) -> list[str]:
        return sorted({a for c in self.components for a in c.alerts})


Report = Callable[[tuple[str | int, ...], str], None]


def resolve_status_page(
    wire: StatusPageSpec | None,
    *,
    service_title: str,
    alert_names: set[str],
    slo_alerts: dict[str, tuple[str, ...]],
    severities: set[str],
    problem: Report,
) -> StatusPage | None:
    """Check the section's cross-references (reported through ``problem``) and build the resolved page."""
    if wire is None:
        return None
    components: list[Component] = []
    seen: set[str] = set()
    for i, c in enumerate(wire.components):
        where = ("status_page", "components", i)
        if c.name in seen:
            problem((*where, "name"), f"component {c.name!r} is defined twice")
        seen.add(c.name)
        for k, slo in enumerate(c.slos):
            if slo not in slo_alerts:
                known = ", ".join(sorted(slo_alerts)) or "no SLOs"
                problem((*where, "slos", k), f"unknown SLO {slo!r}; the spec has {known}")
        names: list[str] = []
        overrides: dict[str, str] = {}
        for k, ref in enumerate(c.alerts):
            alert = ref if isinstance(ref, str) else ref.name
            if alert not in alert_names:
                at = (*where, "alerts", k) if isinstance(ref, str) else (*where, "alerts", k, "name")
                problem(at, f"unknown alert {alert!r}; {_closest(alert, alert_names)}")
            if alert in names:
                problem((*where, "alerts", k), f"alert {alert!r} is listed twice")
            names.append(alert)
            if not isinstance(ref, str):
                overrides[alert] = ref.status
        for slo in c.slos:
            names += slo_alerts.get(slo, ())
        for k, check in enumerate(c.checks):
            if not check or len(check) > 64:
                problem((*where, "checks", k), "a check name is 1-64 characters")
        components.append(
            Component(
                name=c.name,
                title=c.title or c.name,
                description=c.description,
                position=i + 1,
                checks=tuple(c.checks),
                min_workers=c.heartbeats.min_workers if c.heartbeats is not None else None,
                slos=tuple(c.slos),
                alerts=tuple(dict.fromkeys(names)),
                alert_status=overrides,
            )
        )
    mapping = {**DEFAULT_SEVERITY_STATUS, **wire.severity_status}
    for severity in sorted(severities - set(mapping)):
        mapping[severity] = "degraded_performance"
    webhook = wire.webhook_url or f"http://127.0.0.1:8080{wire.path}/webhook/alertmanager"
    return StatusPage(
        title=wire.title or f"{service_title} status",
        url=wire.url,
        path=wire.path,
        webhook_url=webhook,
        credentials_file=wire.credentials_file,
        history_days=wire.history_days,
        severity_status=mapping,
        components=tuple(components),
    )


def _closest(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"the spec has {len(names)} alerts" if names else "the spec has no alerts"
