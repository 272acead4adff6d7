"""Resolved SLOs: objectives as exact decimals, SLI expressions per window, burn-rate tiers.

Tier factors follow the SRE workbook: a tier fires when the error budget would be spent at a rate that uses
``budget_spent`` of the whole period's budget within the tier's long window. For a 30-day period this gives
the workbook's 14.4 / 6 / 3 / 1; other periods keep "budget spent" fixed and scale the factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client.utils import floatToGoString

from jobpulse.spec.promql import Selector

_UNITS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
    "y": Decimal(31536000),
}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def duration_seconds(text: str) -> Decimal:
    """``1h30m`` → 5400."""
    return sum((Decimal(n) * _UNITS[u] for n, u in _PART.findall(text)), Decimal(0))


def clean(value: Decimal) -> str:
    """A short decimal literal: 0.0144, 14.4, 1 (never 0.0009999999999999432)."""
    rounded = value.quantize(Decimal("1e-12")).normalize()
    return format(rounded, "f")


@dataclass(frozen=True)
class TierDefault:
    name: str
    kind: str  # page | ticket
    long: str
    short: str
    budget_spent: Decimal
    for_: str


TIER_DEFAULTS = (
    TierDefault("page_1h", "page", "1h", "5m", Decimal("0.02"), "2m"),
    TierDefault("page_6h", "page", "6h", "30m", Decimal("0.05"), "15m"),
    TierDefault("ticket_1d", "ticket", "1d", "2h", Decimal("0.10"), "1h"),
    TierDefault("ticket_3d", "ticket", "3d", "6h", Decimal("0.10"), "3h"),
)


@dataclass(frozen=True)
class Tier:
    name: str
    kind: str
    severity: str
    long: str
    short: str
    budget_spent: Decimal
    factor: Decimal
    for_: str | None

    @property
    def long_seconds(self) -> Decimal:
        return duration_seconds(self.long)

    @property
    def short_seconds(self) -> Decimal:
        return duration_seconds(self.short)


@dataclass(frozen=True)
class SLI:
    """How to compute the error ratio over a window ``[w]``.

    ``bad``/``good``/``total`` are PromQL templates with ``$window`` for the range; ``selectors`` keeps the
    parsed selectors (when the SLI was given as selectors) for generated tests.
    """

    kind: str  # events | latency
    total: str
    bad: str | None
    good: str | None
    total_selector: Selector | None
    event_selector: Selector | None  # the good or bad selector
    latency_metric: str | None = None
    latency_threshold: float | None = None
    latency_le: str | None = None
    latency_matchers: str = ""


@dataclass(frozen=True)
class SLO:
    name: str
    description: str
    objective: Decimal  # percent, e.g. 99.9
    period: str
    calendar: str | None
    sli: SLI
    group_by: tuple[str, ...]
    tiers: tuple[Tier, ...]  # enabled tiers only
    min_events: int
    absent_enabled: bool
    absent_for: str
    absent_severity: str
    labels: dict[str, str]
    runbook: str
    runbook_url: str
    alert_name: str
    absent_alert_name: str
    anchor: str
    dashboard_uid: str
    unreachable_tiers: tuple[str, ...] = ()

    @property
    def budget(self) -> Decimal:
        """The error budget as a ratio: 0.001 for 99.9."""
        return (Decimal(100) - self.objective) / Decimal(100)

    @property
    def objective_ratio(self) -> Decimal:
        return self.objective / Decimal(100)

    def windows(self) -> list[str]:
        """Every window the rules need, shortest first (5m always, for the dashboard)."""
        found = {"5m", self.period}
        for tier in self.tiers:
            found.update((tier.long, tier.short))
        return sorted(found, key=duration_seconds)


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def bucket_label(value: float) -> str:
    """The ``le`` label value prometheus_client exposes for a bucket boundary."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text
