"""Wire models for ``version: jobpulse/v1``: exactly what users write, validated by pydantic.

Unknown keys are errors (``extra="forbid"``). Cross-references (a job naming a metric, a query naming a
label) are checked later, when the wire spec is resolved into :mod:`jobpulse.spec.model`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobpulse.spec.targets import RuleTarget
from jobpulse.spec.wire_alertmanager import AlertmanagerSpec
from jobpulse.spec.wire_backtest import BacktestSpec
from jobpulse.spec.wire_datadog import DatadogDashboardSpec, DatadogMonitorSpec, DatadogSpec, DatadogWidgetSpec
from jobpulse.spec.wire_llm import LLMSpec
from jobpulse.spec.wire_rollout import RolloutSpec
from jobpulse.spec.wire_scrape import KubernetesSpec, ScrapeSpec
from jobpulse.spec.wire_slo import SLOSpec
from jobpulse.spec.wire_status import StatusPageSpec
from jobpulse.spec.wire_variables import VariableSpec

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ALERT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
RESERVED_LABELS = frozenset({"le", "quantile"})

MetricUnit = Literal[
    "seconds",
    "milliseconds",
    "bytes",
    "ratio",
    "percent",
    "count",
    "requests",
    "jobs",
    "tokens",
    "usd",
    "cents",
    "celsius",
    "none",
]
PanelType = Literal["timeseries", "stat", "gauge", "piechart", "table", "bargauge"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    if not DURATION.match(value):
        raise ValueError(f"expected a Prometheus duration such as 30s, 5m, 1h or 1h30m, got {value!r}")
    return value


Duration = Annotated[str, Field(description="A Prometheus duration: 30s, 5m, 1h, 1h30m")]


class LabelSpec(Strict):
    """A label is bounded either by an allowed value set or by a maximum number of distinct values."""

    values: list[str] | None = None
    max_values: int | None = Field(default=None, ge=1, le=100_000)
    description: str = ""

    @model_validator(mode="after")
    def _bounded(self) -> LabelSpec:
        if self.values is None and self.max_values is None:
            raise ValueError("a label needs `values` (the allowed set) or `max_values` (a distinct-value budget)")
        if self.values is not None and self.max_values is not None:
            raise ValueError("give either `values` or `max_values`, not both")
        if self.values is not None:
            if not self.values:
                raise ValueError("`values` must list at least one value")
            if len(set(self.values)) != len(self.values):
                raise ValueError("`values` lists a value twice")
        return self


class MetricSpec(Strict):
    name: str
    type: Literal["counter", "gauge", "histogram"]
    help: str = Field(min_length=1)
    unit: MetricUnit = "none"
    labels: dict[str, LabelSpec] = Field(default_factory=dict)
    buckets: list[float] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not METRIC_NAME.match(value):
            raise ValueError(f"expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, LabelSpec]) -> dict[str, LabelSpec]:
        for name in value:
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"expected a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __), got {name!r}")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is reserved by Prometheus for histograms and summaries")
        return value

    @model_validator(mode="after")
    def _buckets(self) -> MetricSpec:
        if self.buckets is not None:
            if self.type != "histogram":
                raise ValueError("`buckets` only applies to histograms")
            if not self.buckets or any(b >= a for b, a in zip(self.buckets, self.buckets[1:], strict=False)):
                raise ValueError("`buckets` must be a non-empty, strictly increasing list of numbers")
        return self


class JobOutcomes(Strict):
    success: str = "success"
    failure: str = "failure"


class JobMetrics(Strict):
    """Which catalogue metric each lifecycle event updates (all optional)."""

    enqueued: str | None = Field(default=None, description="counter: +1 per attempt (enqueue, retry, requeue)")
    started: str | None = Field(default=None, description="counter: +1 when an attempt starts running")
    completed: str | None = Field(default=None, description="counter: +1 per terminal outcome, by outcome")
    retried: str | None = Field(default=None, description="counter: +1 per retry")
    duration: str | None = Field(default=None, description="histogram: enqueue (or start) → completion")
    queue_wait: str | None = Field(default=None, description="histogram: enqueue → start")
    queue_depth: str | None = Field(default=None, description="gauge: attempts waiting to start")
    in_flight: str | None = Field(default=None, description="gauge: attempts running")


class JobSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    attributes: list[str] = Field(default_factory=list, description="labels supplied when a job is enqueued")
    outcome_label: str = "outcome"
    outcomes: JobOutcomes = Field(default_factory=JobOutcomes)
    metrics: JobMetrics
    duration_from: Literal["enqueue", "start"] = "enqueue"
    retries_count_as_enqueued: bool = True


class AlertSpec(Strict):
    name: str
    expr: str = Field(min_length=1)
    for_: Duration | None = Field(default=None, alias="for")
    keep_firing_for: Duration | None = None
    severity: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = Field(min_length=1)
    description: str = Field(min_length=1)
    runbook: str = ""
    runbook_url: str | None = None
    datadog: DatadogMonitorSpec | bool | None = Field(
        default=None, description="the alert's Datadog monitor (true: translated from expr)"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ALERT_NAME.match(value):
            raise ValueError(f"expected an alert name such as HighErrorRate, got {value!r}")
        return value

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _for(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(f"expected a label name, got {name!r}")
            if name == "severity":
                raise ValueError("set `severity` with the alert's own `severity` key, not in `labels`")
        return value


class TargetSpec(Strict):
    expr: str = Field(min_length=1)
    legend: str = ""
    instant: bool = False


class PanelSpec(Strict):
    title: str = Field(min_length=1)
    type: PanelType = "timeseries"
    description: str = ""
    expr: str | None = Field(default=None, min_length=1)
    legend: str = ""
    targets: list[TargetSpec] | None = None
    unit: str | None = Field(default=None, min_length=1, description="a Grafana unit id: short, percent, ms, s, reqps")
    width: int = Field(default=12, ge=1, le=24)
    height: int = Field(default=8, ge=2, le=40)
    decimals: int | None = Field(default=None, ge=0, le=10)
    min: float | None = None
    max: float | None = None
    row: str | None = Field(default=None, min_length=1, description="the row (Datadog: group) the panel is in")
    datadog: DatadogWidgetSpec | None = Field(default=None, description="the panel's widget on Datadog")

    @model_validator(mode="after")
    def _one_query_form(self) -> PanelSpec:
        if self.expr is not None and self.targets is not None:
            raise ValueError("a panel needs either `expr` (one query) or `targets` (a list of queries)")
        if self.expr is None and self.targets is None and self.datadog is None:
            raise ValueError("a panel needs either `expr` (one query) or `targets` (a list of queries)")
        if self.targets is not None and not self.targets:
            raise ValueError("`targets` must list at least one query")
        if self.grafana and self.unit is None:
            raise ValueError("missing required key 'unit' (a Grafana unit id: short, percent, ms, s, reqps)")
        return self

    @property
    def grafana(self) -> bool:
        """False for a Datadog-only panel (``datadog`` without ``expr`` or ``targets``)."""
        return self.expr is not None or self.targets is not None

    def all_targets(self) -> list[TargetSpec]:
        if self.targets is not None:
            return list(self.targets)
        assert self.expr is not None
        return [TargetSpec(expr=self.expr, legend=self.legend)]


class DashboardSpec(Strict):
    title: str = Field(min_length=1)
    uid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    refresh: Duration = "30s"
    time_from: Duration = "6h"
    variables: list[VariableSpec] = Field(default_factory=list, description="template variables ($env, ...)")
    panels: list[PanelSpec] = Field(min_length=1)
    datadog: DatadogDashboardSpec | bool | None = Field(
        default=None, description="true (or settings): also a Datadog dashboard; false: never"
    )


class SeriesSpec(Strict):
    series: str
    values: str


class ExpectedAlert(Strict):
    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)


class AlertRuleTest(Strict):
    eval_time: Duration
    alertname: str
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)


class ExpectedSample(Strict):
    labels: str
    value: float


class PromqlExprTest(Strict):
    expr: str
    eval_time: Duration
    exp_samples: list[ExpectedSample] = Field(default_factory=list)


class AlertTestSpec(Strict):
    """One promtool test group, in promtool's own format plus a name."""

    name: str = Field(min_length=1)
    interval: Duration = "1m"
    input_series: list[SeriesSpec] = Field(min_length=1)
    alert_rule_test: list[AlertRuleTest] = Field(default_factory=list)
    promql_expr_test: list[PromqlExprTest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _asserts_something(self) -> AlertTestSpec:
        if not self.alert_rule_test and not self.promql_expr_test:
            raise ValueError("a test needs at least one `alert_rule_test` or `promql_expr_test`")
        return self


class ServiceSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)
    title: str = ""
    description: str = ""
    scrape_interval: Duration = "15s"
    evaluation_interval: Duration = "1m"
    runbook_base_url: str = ""
    grafana_url: str = Field(default="", description="base URL of Grafana, for dashboard links in alerts")
    target_labels: list[str] = Field(default_factory=lambda: ["job", "instance"])


CHECK_ID = r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$"


class LintAllowSpec(Strict):
    """A ``jobpulse lint`` problem that stays on purpose, and why."""

    check: str = Field(pattern=CHECK_ID, description="a check id such as naming/units")
    where: str | None = Field(
        default=None,
        min_length=1,
        description="where it applies: an alert, metric, dashboard or panel name, or a path such as alerts[0]",
    )
    reason: str = Field(description="why the problem stays (required)")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a suppression needs a reason: say why the problem stays")
        return value


class LintSpec(Strict):
    allow: list[LintAllowSpec] = Field(default_factory=list)
    severities: list[str] | None = Field(
        default=None, min_length=1, description="allowed alert severities (default: critical, warning, info)"
    )
    target: str | None = Field(
        default=None,
        description="the rule engine the rules are for: prometheus (default), vmalert, thanos, mimir; @VERSION pins it",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None:
            RuleTarget.parse(value)
        return value


class SpecV1(Strict):
    version: Literal["jobpulse/v1"]
    service: ServiceSpec
    metrics: list[MetricSpec] = Field(min_length=1)
    jobs: list[JobSpec] = Field(default_factory=list)
    alerts: list[AlertSpec] = Field(default_factory=list)
    dashboards: list[DashboardSpec] = Field(default_factory=list)
    tests: list[AlertTestSpec] = Field(default_factory=list)
    slos: list[SLOSpec] = Field(default_factory=list)
    alertmanager: AlertmanagerSpec = Field(default_factory=AlertmanagerSpec)
    lint: LintSpec = Field(default_factory=LintSpec)
    backtest: BacktestSpec | None = None
    llm: LLMSpec | None = None
    rollouts: list[RolloutSpec] = Field(default_factory=list)
    status_page: StatusPageSpec | None = None
    datadog: DatadogSpec | None = None
    scrape: ScrapeSpec | None = None
    kubernetes: KubernetesSpec | None = None


def wire_schema() -> dict[str, Any]:
    """The JSON schema of the wire format (for editors)."""
    return SpecV1.model_json_schema(by_alias=True)
