"""Resolved rollouts: what ``jobpulse canary`` queries and what ``jobpulse build`` turns into rules.

Every query is built here from checked selectors, so the judge (:mod:`jobpulse.canary`) and the generated rules
(:mod:`jobpulse.compile.canary_rules`) ask Prometheus exactly the same thing for a side.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Fewer samples per side than this and the test says nothing: the metric is inconclusive.
MIN_SAMPLES = 10
#: The label that says which rollout track a process serves when the spec has no ``rollouts`` section.
DEFAULT_TRACK_LABEL = "track"


def track_label(labels: list[str] | tuple[str, ...]) -> str:
    """The label the runtime fills with the process's track: the first rollout's label, else ``track``."""
    return labels[0] if labels else DEFAULT_TRACK_LABEL


@dataclass(frozen=True)
class SeriesRef:
    """A selector split into its series name and the text of its matchers (without braces)."""

    name: str
    matchers: str = ""

    def select(self, *extra: str) -> str:
        parts = [p for p in (self.matchers, *extra) if p]
        return f"{self.name}{{{', '.join(parts)}}}" if parts else self.name


@dataclass(frozen=True)
class Phase:
    name: str
    weight: float  # percent of traffic on the canary
    min_duration: str
    min_duration_seconds: float
    min_events: int
    baseline_window: str  # concurrent | preceding


@dataclass(frozen=True)
class Compared:
    """One metric compared between the sides."""

    name: str
    description: str
    kind: str  # ratio | latency
    direction: str  # increase | decrease | either: which change is bad
    allowed_relative: float
    allowed_absolute: float
    critical: bool
    unit: str  # the unit of the compared value: "ratio" or the histogram's unit
    numerator: SeriesRef | None = None
    denominator: SeriesRef | None = None
    histogram: str | None = None
    quantile: float | None = None
    histogram_matchers: str = ""

    @property
    def bucket(self) -> SeriesRef:
        assert self.histogram is not None
        return SeriesRef(f"{self.histogram}_bucket", self.histogram_matchers)

    @property
    def count(self) -> SeriesRef:
        """The series whose increase counts this metric's events."""
        if self.kind == "ratio":
            assert self.denominator is not None
            return self.denominator
        assert self.histogram is not None
        return SeriesRef(f"{self.histogram}_count", self.histogram_matchers)

    def describe(self) -> str:
        if self.kind == "latency":
            return f"p{_percentile(self.quantile)} of {self.histogram}"
        assert self.numerator is not None and self.denominator is not None
        return f"{self.numerator.select()} / {self.denominator.select()}"

    def tolerance(self, baseline: float) -> float:
        """The largest difference from ``baseline`` that still passes."""
        return max(self.allowed_absolute, self.allowed_relative * abs(baseline))


def _percentile(quantile: float | None) -> str:
    assert quantile is not None
    return f"{quantile * 100:g}"


@dataclass(frozen=True)
class Rollout:
    name: str
    description: str
    label: str
    canary: str
    baseline: str
    matchers: str  # extra matchers for every query, without braces
    interval: str
    interval_seconds: float
    confidence: float  # a fraction, e.g. 0.98
    pass_score: float  # percent
    phases: tuple[Phase, ...]
    metrics: tuple[Compared, ...]
    severity: str
    alert_name: str
    dashboard_uid: str

    def side_matchers(self, side: str) -> str:
        """``track="canary"`` plus the rollout's own matchers."""
        value = self.canary if side == "canary" else self.baseline
        own = f'{self.label}="{_escape(value)}"'
        return f"{self.matchers}, {own}" if self.matchers else own

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    # -- per-interval queries (one sample per interval and side) ---------------------------------------
    def events_query(self, metric: Compared, side: str, window: str | None = None) -> str:
        """Events of ``metric`` on ``side`` within each ``window`` (default: the sample interval)."""
        return f"sum(increase({metric.count.select(self.side_matchers(side))}[{window or self.interval}]))"

    def numerator_query(self, metric: Compared, side: str, window: str | None = None) -> str:
        assert metric.numerator is not None
        inner = metric.numerator.select(self.side_matchers(side))
        # `or vector(0)`: a side without a single error has no error series at all, which is a ratio of 0
        return f"(sum(increase({inner}[{window or self.interval}])) or vector(0))"

    def buckets_query(self, metric: Compared, side: str, window: str | None = None) -> str:
        return f"sum by (le) (increase({metric.bucket.select(self.side_matchers(side))}[{window or self.interval}]))"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
