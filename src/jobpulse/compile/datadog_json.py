"""What jobpulse emits for Datadog, as strict pydantic models (unknown keys and values are errors).

Only the parts of the API's dashboard and monitor schemas that jobpulse writes are modelled, in their
current forms: ``queries``/``formulas`` requests (never the legacy ``q`` string), template variables with
``defaults`` (never the deprecated ``default``), no read-only fields (``id``, ``author_handle``, ``url`` ...).
``tests/compile/test_datadog_json.py`` checks every emitted document against ``datadog-api-client``'s
models as well, failing on any node that client could not parse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Dashboard", "Monitor", "dump"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MetricQuery(_Strict):
    data_source: Literal["metrics"] = "metrics"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    query: str = Field(min_length=1)
    aggregator: Literal["avg", "last", "sum", "min", "max", "area", "l2norm", "percentile"] | None = None


class Formula(_Strict):
    formula: str = Field(min_length=1)
    alias: str | None = None


class TimeseriesRequest(_Strict):
    queries: list[MetricQuery] = Field(min_length=1)
    formulas: list[Formula] = Field(min_length=1)
    response_format: Literal["timeseries"] = "timeseries"
    display_type: Literal["line", "bars", "area"] = "line"


class ScalarRequest(_Strict):
    queries: list[MetricQuery] = Field(min_length=1)
    formulas: list[Formula] = Field(min_length=1)
    response_format: Literal["scalar"] = "scalar"


class TimeseriesDefinition(_Strict):
    type: Literal["timeseries"] = "timeseries"
    title: str
    show_legend: bool = True
    legend_layout: Literal["auto", "horizontal", "vertical"] = "auto"
    requests: list[TimeseriesRequest] = Field(min_length=1)


class QueryValueDefinition(_Strict):
    type: Literal["query_value"] = "query_value"
    title: str
    autoscale: bool = True
    precision: int | None = Field(default=None, ge=0)
    custom_unit: str | None = None
    requests: list[ScalarRequest] = Field(min_length=1, max_length=1)


class Widget(_Strict):
    definition: Annotated[TimeseriesDefinition | QueryValueDefinition, Field(discriminator="type")]


class GroupDefinition(_Strict):
    type: Literal["group"] = "group"
    layout_type: Literal["ordered"] = "ordered"
    title: str
    show_title: bool = True
    widgets: list[Widget] = Field(min_length=1)


class Group(_Strict):
    definition: GroupDefinition


class TemplateVariable(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    prefix: str | None = None
    available_values: list[str] = Field(default_factory=list)
    defaults: list[str] = Field(default_factory=lambda: ["*"])


class Dashboard(_Strict):
    """``POST /api/v1/dashboard``: an ordered dashboard whose widgets flow (``reflow_type: auto``, no layouts)."""

    title: str = Field(min_length=1)
    description: str | None = None
    layout_type: Literal["ordered"] = "ordered"
    reflow_type: Literal["auto"] = "auto"
    template_variables: list[TemplateVariable] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    widgets: list[Group | Widget] = Field(min_length=1)


class Thresholds(_Strict):
    critical: int | float
    warning: int | float | None = None
    critical_recovery: int | float | None = None
    warning_recovery: int | float | None = None


class MonitorOptions(_Strict):
    thresholds: Thresholds
    notify_no_data: bool = False
    no_data_timeframe: int | None = Field(default=None, ge=1)
    renotify_interval: int | None = Field(default=None, ge=0)
    evaluation_delay: int | None = Field(default=None, ge=0)
    require_full_window: bool | None = None
    include_tags: bool = True


class Monitor(_Strict):
    """``POST /api/v1/monitor`` for a metric monitor."""

    name: str = Field(min_length=1)
    type: Literal["metric alert", "query alert"]
    query: str = Field(min_length=1)
    message: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    priority: int | None = Field(default=None, ge=1, le=5)
    options: MonitorOptions


def dump(model: BaseModel) -> Any:
    """JSON-ready data: unset optional keys left out, so the files hold only what was decided."""
    return model.model_dump(mode="json", exclude_none=True)
