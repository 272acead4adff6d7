"""Wire models for the Datadog side of a spec: what users write under ``datadog:`` keys.

- the top-level ``datadog:`` section: which dashboards go to Datadog (``dashboards: all`` or only those
  marked), and how catalogue metric names map to Datadog names (a rule, plus exceptions);
- ``dashboards[].datadog``: a dashboard's title, group titles and template variables on Datadog;
- ``dashboards[].panels[].datadog``: a panel's Datadog widget (queries and formulas);
- ``alerts[].datadog``: an alert's Datadog monitor (translated from ``expr``, or a hand-written query).

Cross-checks (metric names, query grammar, thresholds) happen when the spec is resolved
(:mod:`jobpulse.spec.datadog`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DATADOG_METRIC = r"^[A-Za-z][A-Za-z0-9_.]{0,199}$"
QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
VARIABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatadogDerivedSpec(_Strict):
    """A second Datadog counter for the updates whose labels match: ``prompter.http.status.5xx`` where
    ``status`` matches ``5..``."""

    name: str = Field(pattern=DATADOG_METRIC)
    where: dict[str, str] = Field(min_length=1, description="label → regular expression matched in full")

    @field_validator("where")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"`where.{label}`: not a regular expression: {exc}") from None
        return value


class DatadogMetricSpec(_Strict):
    """How one catalogue metric is named (and, for a histogram, in which unit it is sent) on Datadog."""

    name: str = Field(pattern=DATADOG_METRIC)
    unit: Literal["seconds", "milliseconds"] | None = Field(
        default=None, description="histograms: the unit of the distribution's values (the seed sends ms)"
    )
    derived: list[DatadogDerivedSpec] = Field(default_factory=list)


class DatadogSpec(_Strict):
    """The spec-wide Datadog settings."""

    dashboards: Literal["all", "marked"] = Field(
        default="marked",
        description="all: every dashboard also goes to Datadog (unless `datadog: false`); marked: only those "
        "with a `datadog` key",
    )
    names: Literal["dotted", "same"] = Field(
        default="dotted",
        description="dotted: prompter_probe_attempts_total → prompter.probe.attempts (`_total` dropped, `_` → `.`); "
        "same: the catalogue name",
    )
    metrics: dict[str, str | DatadogMetricSpec] = Field(
        default_factory=dict, description="catalogue metric → its Datadog name (or name, unit, derived), past the rule"
    )
    monitor_tags: list[str] = Field(default_factory=list, description="tags added to every monitor")

    @field_validator("metrics")
    @classmethod
    def _names(cls, value: dict[str, str | DatadogMetricSpec]) -> dict[str, str | DatadogMetricSpec]:
        for prometheus, datadog in value.items():
            if isinstance(datadog, str) and not re.match(DATADOG_METRIC, datadog):
                raise ValueError(
                    f"`{prometheus}`: {datadog!r} is not a Datadog metric name (letters, digits, `_` and `.`, "
                    "starting with a letter)"
                )
        return value


class DatadogTemplateVariableSpec(_Strict):
    name: str = Field(pattern=VARIABLE_NAME)
    prefix: str | None = Field(default=None, description="the tag key: `$svc` → service:<value> with prefix service")
    defaults: list[str] = Field(default_factory=lambda: ["*"])
    available_values: list[str] = Field(default_factory=list)


class DatadogDashboardSpec(_Strict):
    title: str | None = Field(default=None, min_length=1)
    description: str | None = None
    groups: dict[str, str] = Field(default_factory=dict, description="row title → the Datadog group's title")
    template_variables: list[DatadogTemplateVariableSpec] | None = Field(
        default=None, description="default: one per Grafana variable, with the label it lists as prefix"
    )


class DatadogFormulaSpec(_Strict):
    formula: str = Field(min_length=1)
    alias: str | None = None


class DatadogWidgetSpec(_Strict):
    """A panel's widget on Datadog: one ``query``, or named ``queries`` combined by ``formulas``."""

    title: str | None = Field(default=None, min_length=1)
    type: Literal["timeseries", "query_value"] | None = Field(
        default=None, description="default: query_value for stat and gauge panels, timeseries otherwise"
    )
    query: str | None = Field(default=None, min_length=1)
    queries: dict[str, str] | None = None
    formulas: list[str | DatadogFormulaSpec] | None = None
    alias: str | None = Field(default=None, description="the legend of a single-query widget")
    display: Literal["line", "bars", "area"] = "line"
    aggregator: Literal["avg", "last", "sum", "min", "max"] = Field(
        default="avg", description="query_value: how the window is reduced to one number"
    )
    precision: int | None = Field(default=None, ge=0, le=10)
    unit: str | None = Field(default=None, description="query_value: a custom unit shown next to the number")

    @model_validator(mode="after")
    def _one_form(self) -> DatadogWidgetSpec:
        if (self.query is None) == (self.queries is None):
            raise ValueError("a Datadog widget needs either `query` or `queries` (named queries and `formulas`)")
        if self.queries is not None:
            if not self.queries:
                raise ValueError("`queries` must name at least one query")
            for name in self.queries:
                if not QUERY_NAME.match(name):
                    raise ValueError(f"query names look like `errors` or `query1` (a-z, 0-9, _), got {name!r}")
        if self.query is not None and self.formulas is not None:
            raise ValueError("`formulas` combine named `queries`; a single `query` needs none")
        return self


class DatadogMonitorSpec(_Strict):
    """An alert's Datadog monitor. Without ``query`` it is translated from the alert's PromQL ``expr``."""

    query: str | None = Field(default=None, min_length=1, description="a hand-written Datadog monitor query")
    name: str | None = Field(default=None, min_length=1, description="default: the alert's summary")
    message: str | None = Field(default=None, min_length=1, description="default: summary and description")
    type: Literal["metric alert", "query alert"] = "metric alert"
    warning: float | None = None
    critical_recovery: float | None = None
    warning_recovery: float | None = None
    notify_no_data: bool = False
    no_data_timeframe: int | None = Field(default=None, ge=1, le=10_080, description="minutes")
    renotify_interval: int | None = Field(default=None, ge=0, description="minutes")
    evaluation_delay: int | None = Field(default=None, ge=0, description="seconds")
    require_full_window: bool | None = None
    priority: int | None = Field(default=None, ge=1, le=5, description="default: 1 critical, 3 warning, else none")
    tags: list[str] = Field(default_factory=list)
