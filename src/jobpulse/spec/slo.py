"""Resolved SLOs: objectives as exact decimals, SLI expressions per window, burn-rate tiers.

Tier factors follow the SRE workbook: a tier fires when the error budget would be spent at a rate that uses
``budget_spent`` of the whole period's budget within the tier's long window. For a 30-day period this gives
the workbook's 14.4 / 6 / 3 / 1; other periods keep "budget spent" fixed and scale the factor, except 7 days,
which uses Sloth's 7-day alert windows (8 / 12.5 / 20 / 42 % spent: factors 13.44 / 3.5 / 1.4 / 0.98) because
the workbook's percentages would page on burns that never exhaust a week's budget.

Each tier also needs a minimum number of bad events in its long window (:func:`min_bad_events`), so that one
failed request on a nearly idle service cannot page anyone.
"""

from __future__ import annotations

import math
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


#: budget spent per tier (page_1h, page_6h, ticket_1d, ticket_3d) for periods that do not use the workbook's
#: 2 / 5 / 10 / 10 %, by period in seconds: Sloth's 7-day alert windows (slok/sloth examples/windows/7d.yaml)
PERIOD_BUDGETS = {
    Decimal(7 * 86400): (Decimal("0.08"), Decimal("0.125"), Decimal("0.20"), Decimal("0.42")),
}
#: a tier whose factor is below this fires on burns that leave more than 10 % of the budget unspent
MIN_FACTOR = Decimal("0.9")
#: the chance a page tier may have of firing on a service that exactly meets its objective (see min_bad_events)
PAGE_FALSE_ALARM = 0.01
#: a ticket (and the guard's floor): one failure alone never alerts
MIN_BAD_EVENTS_FLOOR = 2
MAX_BAD_EVENTS = 20


def poisson_at_least(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean)."""
    term, below = math.exp(-mean), 0.0
    for i in range(k):
        below += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - below)


def min_bad_events(factor: Decimal, kind: str) -> int:
    """Bad events a tier's long window needs before the tier may fire.

    A tier fires when bad / total > factor x budget. On a low-traffic service a handful of failures crosses that
    threshold by chance: with k bad events the ratio crosses it whenever the window held fewer than
    k / (factor x budget) events, and a service that exactly meets its objective then expects k / factor bad
    events there. A page tier needs the smallest k (at least 2) for which seeing k or more of them has a chance
    of at most 1 % (Poisson); ticket tiers need 2, so a single failure alerts nobody.
    """
    if kind != "page":
        return MIN_BAD_EVENTS_FLOOR
    for k in range(MIN_BAD_EVENTS_FLOOR, MAX_BAD_EVENTS + 1):
        if poisson_at_least(k, k / float(factor)) <= PAGE_FALSE_ALARM:
            return k
    return MAX_BAD_EVENTS


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
    min_bad_events: int = MIN_BAD_EVENTS_FLOOR

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
    ticket_severity: str = "ticket"

    @property
    def unmeasurable_alert_name(self) -> str:
        return self.alert_name.removesuffix("ErrorBudgetBurn") + "SLIUnmeasurable"

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
        if self.sli.kind == "latency":
            found.add(UNMEASURABLE_WINDOW)
        for tier in self.tiers:
            found.update((tier.long, tier.short))
        return sorted(found, key=duration_seconds)


#: the window over which a latency SLI with events but no threshold bucket counts as unmeasurable
UNMEASURABLE_WINDOW = "1h"


def bucket_spellings(value: float) -> list[str]:
    """Every ``le`` spelling clients expose for a boundary: Python's ``2.0`` and Go's ``2`` (and ``1e+06``)."""
    python = bucket_label(value)
    found = [python]
    if python.endswith(".0"):
        found.append(python[:-2])
    return found


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def bucket_label(value: float) -> str:
    """The ``le`` label value prometheus_client exposes for a bucket boundary."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text
