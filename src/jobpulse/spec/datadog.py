"""The resolved Datadog side of a spec: metric names on Datadog, dashboards, monitors.

Built by :mod:`jobpulse.spec.datadog_resolve` from the wire spec; used by the Datadog compiler, lint and
the DogStatsD sink. Catalogue metrics map to Datadog metrics one to one (a counter to a ``count``, a
gauge to a ``gauge``, a histogram to a ``distribution``), named by the spec's rule or an explicit name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jobpulse.spec.model import Metric

#: Datadog's metric type for each catalogue type (histograms become distributions: global percentiles)
DATADOG_TYPES = {"counter": "count", "gauge": "gauge", "histogram": "distribution"}
#: tags every metric may carry besides its labels: the client's constant tags and the agent's host
CONSTANT_TAGS = frozenset({"env", "service", "version", "host"})
_UNIT_SECONDS = {"seconds": 1.0, "milliseconds": 0.001}


def dotted_name(metric: Metric) -> str:
    """The default rule: ``prompter_probe_attempts_total`` → ``prompter.probe.attempts``."""
    name = metric.exposed_name
    if metric.type == "counter":
        name = name.removesuffix("_total")
    return re.sub(r"[_:]+", ".", name).strip(".")


@dataclass(frozen=True)
class DatadogDerived:
    """A second counter sent for the updates whose labels match every pattern."""

    name: str
    where: tuple[tuple[str, str], ...]  # (label, regular expression matched in full)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(re.fullmatch(pattern, labels.get(label, "")) for label, pattern in self.where)


@dataclass(frozen=True)
class DatadogMetric:
    """One catalogue metric on Datadog."""

    source: Metric
    name: str
    type: str  # count | gauge | distribution
    scale: float = 1.0  # values are multiplied by this before sending (seconds → ms: 1000)
    derived: tuple[DatadogDerived, ...] = ()

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.source.label_names) | CONSTANT_TAGS


@dataclass
class DatadogCatalogue:
    metrics: dict[str, DatadogMetric]  # by catalogue name

    def __post_init__(self) -> None:
        self._by_name: dict[str, tuple[DatadogMetric, DatadogDerived | None]] = {}
        for metric in self.metrics.values():
            self._by_name[metric.name] = (metric, None)
            for derived in metric.derived:
                self._by_name[derived.name] = (metric, derived)

    def lookup(self, name: str) -> tuple[DatadogMetric, DatadogDerived | None] | None:
        """The metric (and derived counter) a Datadog name stands for."""
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)


def dotted_catalogue(metrics: dict[str, Metric]) -> DatadogCatalogue:
    """Every catalogue metric under the default rule's name (a spec without a ``datadog`` section)."""
    return DatadogCatalogue(
        {
            name: DatadogMetric(metric, dotted_name(metric), DATADOG_TYPES[metric.type])
            for name, metric in metrics.items()
        }
    )


def unit_scale(metric: Metric, unit: str | None) -> float:
    """Multiplier from the metric's unit to the Datadog unit (seconds → milliseconds: 1000)."""
    if unit is None or metric.unit not in _UNIT_SECONDS:
        return 1.0
    return _UNIT_SECONDS[metric.unit] / _UNIT_SECONDS[unit]


@dataclass(frozen=True)
class DatadogQuery:
    name: str
    query: str


@dataclass(frozen=True)
class DatadogFormula:
    formula: str
    alias: str | None = None


@dataclass(frozen=True)
class DatadogWidget:
    title: str
    type: str  # timeseries | query_value
    queries: tuple[DatadogQuery, ...]
    formulas: tuple[DatadogFormula, ...]
    display: str = "line"
    aggregator: str = "avg"
    precision: int | None = None
    unit: str | None = None


@dataclass(frozen=True)
class DatadogGroup:
    title: str
    widgets: tuple[DatadogWidget, ...]


@dataclass(frozen=True)
class DatadogTemplateVariable:
    name: str
    prefix: str | None
    defaults: tuple[str, ...]
    available_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatadogDashboard:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    template_variables: tuple[DatadogTemplateVariable, ...]
    #: in order: a group for each row, a bare widget for a panel outside rows
    items: tuple[DatadogGroup | DatadogWidget, ...]


@dataclass(frozen=True)
class DatadogThresholds:
    critical: float
    warning: float | None = None
    critical_recovery: float | None = None
    warning_recovery: float | None = None


@dataclass(frozen=True)
class DatadogMonitor:
    alert: str
    name: str
    type: str
    query: str
    message: str
    tags: tuple[str, ...]
    priority: int | None
    thresholds: DatadogThresholds
    notify_no_data: bool = False
    no_data_timeframe: int | None = None
    renotify_interval: int | None = None
    evaluation_delay: int | None = None
    require_full_window: bool | None = None
    translated: bool = True  # False: the query was written by hand in the spec


@dataclass
class Datadog:
    """Everything the spec says about Datadog."""

    catalogue: DatadogCatalogue
    dashboards: list[DatadogDashboard] = field(default_factory=list)
    monitors: list[DatadogMonitor] = field(default_factory=list)
    #: panels of Datadog dashboards that have no Datadog widget (they stay Grafana-only)
    skipped_panels: list[tuple[str, str]] = field(default_factory=list)
