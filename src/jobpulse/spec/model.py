"""The resolved model: what the rest of jobpulse uses, built from a validated wire spec.

Unlike the wire models, everything here is cross-checked (a job's metrics exist and have the right type,
queries name known metrics and labels) and defaults are filled in (dashboard uids, runbook links,
histogram buckets in the metric's unit).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobpulse.spec import wire
from jobpulse.spec.rollout import Rollout, track_label
from jobpulse.spec.scrape import Endpoint, KubernetesConfig
from jobpulse.spec.slo import SLO
from jobpulse.spec.targets import DEFAULT_TARGET, RuleTarget
from jobpulse.spec.wire_alertmanager import AlertmanagerSpec
from jobpulse.spec.wire_llm import LLMConfig
from jobpulse.spec.wire_status import StatusPage
from jobpulse.spec.wire_variables import VariableSpec

if TYPE_CHECKING:
    from jobpulse.spec.datadog import Datadog

SECONDS_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
UNIT_SCALE = {"seconds": 1.0, "milliseconds": 1000.0}


@dataclass(frozen=True)
class Label:
    name: str
    values: frozenset[str] | None
    max_values: int | None
    description: str = ""

    @property
    def budget(self) -> int:
        """How many distinct values this label may take (the allowed set's size or ``max_values``)."""
        if self.values is not None:
            return len(self.values)
        assert self.max_values is not None
        return self.max_values


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    help: str
    unit: str
    labels: tuple[Label, ...]
    buckets: tuple[float, ...] | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def label(self, name: str) -> Label | None:
        for label in self.labels:
            if label.name == name:
                return label
        return None

    @property
    def exposed_name(self) -> str:
        """The name Prometheus stores (a counter always ends in ``_total``)."""
        if self.type == "counter" and not self.name.endswith("_total"):
            return self.name + "_total"
        return self.name

    @property
    def series_names(self) -> dict[str, tuple[str, ...]]:
        """Every series name this metric exposes, with the extra labels each one carries."""
        if self.type == "histogram":
            return {
                f"{self.name}_bucket": ("le",),
                f"{self.name}_sum": (),
                f"{self.name}_count": (),
            }
        return {self.exposed_name: ()}

    @property
    def unit_scale(self) -> float:
        """Multiplier from seconds to this metric's unit, for durations (1000 for milliseconds)."""
        return UNIT_SCALE.get(self.unit, 1.0)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    attributes: tuple[str, ...]
    outcome_label: str
    success: str
    failure: str
    duration_from: str
    retries_count_as_enqueued: bool
    enqueued: Metric | None = None
    started: Metric | None = None
    completed: Metric | None = None
    retried: Metric | None = None
    duration: Metric | None = None
    queue_wait: Metric | None = None
    queue_depth: Metric | None = None
    in_flight: Metric | None = None

    def roles(self) -> dict[str, Metric]:
        out: dict[str, Metric] = {}
        for role in JOB_ROLES:
            metric = getattr(self, role)
            if metric is not None:
                out[role] = metric
        return out


# role → (allowed metric types, whether the outcome label may appear on it)
JOB_ROLES: dict[str, tuple[tuple[str, ...], bool]] = {
    "enqueued": (("counter",), False),
    "started": (("counter",), False),
    "completed": (("counter",), True),
    "retried": (("counter",), False),
    "duration": (("histogram",), True),
    "queue_wait": (("histogram",), False),
    "queue_depth": (("gauge",), False),
    "in_flight": (("gauge",), False),
}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str | None
    keep_firing_for: str | None
    severity: str
    labels: dict[str, str]
    summary: str
    description: str
    runbook: str
    runbook_url: str
    anchor: str

    @property
    def all_labels(self) -> dict[str, str]:
        return {"severity": self.severity, **self.labels}


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str
    instant: bool
    ref_id: str


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    type: str
    description: str
    targets: tuple[Target, ...]
    unit: str
    width: int
    height: int
    decimals: int | None
    min: float | None
    max: float | None
    thresholds: tuple[tuple[float, str], ...] = ()
    time_from: str | None = None
    row: str | None = None


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    refresh: str
    time_from: str
    panels: tuple[Panel, ...]
    variables: tuple[VariableSpec, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    description: str
    scrape_interval: str
    evaluation_interval: str
    runbook_base_url: str
    target_labels: tuple[str, ...]
    grafana_url: str = ""


@dataclass
class Spec:
    """A resolved, cross-checked telemetry spec."""

    path: Path
    service: Service
    metrics: dict[str, Metric]
    jobs: dict[str, Job]
    alerts: list[Alert]
    dashboards: list[Dashboard]
    tests: list[wire.AlertTestSpec] = field(default_factory=list)
    slos: list[SLO] = field(default_factory=list)
    alertmanager: AlertmanagerSpec = field(default_factory=AlertmanagerSpec)
    llm: LLMConfig | None = None
    rollouts: list[Rollout] = field(default_factory=list)
    status_page: StatusPage | None = None
    #: the rule engine the rule files are built for (``lint.target``)
    rule_target: RuleTarget = DEFAULT_TARGET
    #: the Datadog side (metric names, dashboards, monitors); None when the spec says nothing about Datadog
    datadog: Datadog | None = None
    #: where the metrics are scraped (``scrape.endpoints``) and how Kubernetes resources are labelled
    endpoints: tuple[Endpoint, ...] = ()
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)

    def metric(self, name: str) -> Metric:
        return self.metrics[name]

    @property
    def track_label(self) -> str:
        """The label the runtime fills with the process's rollout track (``Telemetry(track=)``,
        ``JOBPULSE_TRACK``): the first rollout's label, else ``track``."""
        return track_label([r.label for r in self.rollouts])

    def series_index(self) -> dict[str, tuple[Metric, tuple[str, ...]]]:
        """Every exposed series name → (metric, extra labels such as ``le``)."""
        index: dict[str, tuple[Metric, tuple[str, ...]]] = {}
        for metric in self.metrics.values():
            for series, extra in metric.series_names.items():
                index[series] = (metric, extra)
        return index


def slug(text: str) -> str:
    """Lower-case letters, digits and dashes: ``Job outcomes (%)`` → ``job-outcomes``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dashboard_uid(service: str, title: str) -> str:
    """A deterministic Grafana uid of at most 40 characters."""
    uid = slug(f"{service}-{title}")
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[:31].rstrip('-')}-{digest}"


def alert_anchor(name: str) -> str:
    """The Markdown heading anchor of an alert's runbook section (GitHub style)."""
    return name.lower()


def ref_id(index: int) -> str:
    """Grafana query refIds: A, B, ..., Z, AA, AB, ..."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters
