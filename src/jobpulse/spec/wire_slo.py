"""Wire models for the ``slos`` section of a spec."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
TIER_NAMES = ("page_1h", "page_6h", "ticket_1d", "ticket_3d")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"expected a Prometheus duration such as 5m, 1h or 30d, got {value!r}")
    return value


class EventsSLI(_Strict):
    """Good/total or bad/total events: each a selector (``metric{label="x"}``) or an expression."""

    good: str | None = None
    bad: str | None = None
    total: str

    @model_validator(mode="after")
    def _one_of(self) -> EventsSLI:
        if (self.good is None) == (self.bad is None):
            raise ValueError("an events SLI needs `total` and exactly one of `good` or `bad`")
        return self


class LatencySLI(_Strict):
    """Requests faster than ``threshold`` (a bucket boundary of ``metric``, in its unit) are good."""

    metric: str
    threshold: float = Field(gt=0)
    selector: str = Field(default="", description='label matchers applied to the histogram, e.g. {route="/api"}')

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        value = value.strip()
        if value and not (value.startswith("{") and value.endswith("}")):
            raise ValueError('expected label matchers in braces, e.g. {outcome="ready"}')
        return value


class SLISpec(_Strict):
    events: EventsSLI | None = None
    latency: LatencySLI | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SLISpec:
        if (self.events is None) == (self.latency is None):
            raise ValueError("an SLI is either `events` or `latency`")
        return self


class TierSpec(_Strict):
    enabled: bool = True
    for_: str | None = Field(default=None, alias="for")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class AbsentSpec(_Strict):
    enabled: bool = False
    for_: str = Field(default="15m", alias="for")
    severity: str = "ticket"
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str) -> str:
        return _duration(value)


class SLOAlertsSpec(_Strict):
    tiers: dict[Literal["page_1h", "page_6h", "ticket_1d", "ticket_3d"], TierSpec] = Field(default_factory=dict)
    page_severity: str = "page"
    ticket_severity: str = "ticket"
    min_events: int = Field(
        default=10, ge=0, description="events a tier's long window needs before the tier may fire (low-traffic guard)"
    )
    min_bad_events: int | None = Field(
        default=None,
        ge=0,
        description="bad events a tier's long window needs before it may fire; default: per tier (docs/slo.md)",
    )
    absent: AbsentSpec = Field(default_factory=AbsentSpec)
    labels: dict[str, str] = Field(default_factory=dict)


class SLOSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)
    description: str = ""
    objective: float = Field(gt=0, lt=100, description="percent of good events, e.g. 99.9")
    period: str = "30d"
    calendar: Literal["week", "month"] | None = None
    sli: SLISpec
    group_by: list[str] = Field(default_factory=list)
    alerts: SLOAlertsSpec = Field(default_factory=SLOAlertsSpec)
    runbook: str = ""

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        return _duration(value)
