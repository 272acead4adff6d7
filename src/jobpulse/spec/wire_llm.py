"""The optional ``llm`` section of a spec: LLM call metrics, a price table, a cost baseline and a spike alert.

The wire models (what users write) and their resolution against the metric catalogue (what the runtime in
:mod:`jobpulse.runtime.llm` and the rules in :mod:`jobpulse.compile.llm_rules` use) live together here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobpulse.spec.slo import duration_seconds
from jobpulse.spec.yamlpos import PathKey

if TYPE_CHECKING:
    from jobpulse.spec.model import Metric

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_ALERT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RECORD = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"expected a Prometheus duration such as 5m, 1h or 1d, got {value!r}")
    return value


class PriceSpec(_Strict):
    """The price of one model, per ``llm.per`` tokens, in ``llm.currency``."""

    prompt: float = Field(ge=0, description="price of prompt (input) tokens")
    completion: float = Field(ge=0, description="price of completion (output) tokens")


class LLMMetricsSpec(_Strict):
    """Which catalogue metric receives what (all optional). Labels they may carry are listed per role."""

    requests: str | None = Field(default=None, description="counter +1 per call; labels model, operation, status")
    latency: str | None = Field(default=None, description="histogram of call latency; labels model, operation, status")
    tokens: str | None = Field(
        default=None,
        description="counter (+tokens) or histogram (tokens per call); labels model, operation and the token label",
    )
    errors: str | None = Field(
        default=None, description="counter +1 per failed call; labels model, operation, error_type"
    )
    cost: str | None = Field(
        default=None, description="counter of money spent (unit usd or cents); labels model, operation"
    )
    cache_hits: str | None = Field(default=None, description="counter; labels model, operation")
    cache_misses: str | None = Field(default=None, description="counter; labels model, operation")
    cache_savings: str | None = Field(
        default=None, description="counter of money not spent thanks to cache hits (unit usd or cents)"
    )


class SpikeAlertSpec(_Strict):
    """Alert when the current cost rate is at least ``factor`` times its baseline for ``for``."""

    alert: str = "LLMCostSpike"
    factor: float = Field(default=2.0, gt=1)
    for_: str = Field(default="5m", alias="for")
    window: str | None = Field(default=None, description="which baseline window (default: the first)")
    severity: str = "warning"
    min_cost_per_hour: float = Field(default=0, ge=0, description="never fire below this cost per hour")
    labels: dict[str, str] = Field(default_factory=dict)
    runbook_url: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("alert")
    @classmethod
    def _alert(cls, value: str) -> str:
        if not _ALERT.match(value):
            raise ValueError(f"expected an alert name such as LLMCostSpike, got {value!r}")
        return value

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str) -> str:
        return _duration(value)


class CostBaselineSpec(_Strict):
    """Recording rules: the current cost per hour, and its average over each window (the baseline)."""

    rate_window: str = "5m"
    windows: list[str] = Field(default_factory=lambda: ["1d"], min_length=1)
    exclude_recent: str = Field(
        default="1h", description="the baseline leaves out the most recent part of its window (no offset needed)"
    )
    by: list[str] = Field(default_factory=list, description="labels of the cost metric kept in the rules")
    current_record: str = "llm:cost_per_hour:current"
    baseline_record: str = "llm:cost_per_hour:baseline"
    spike: SpikeAlertSpec | None = Field(default_factory=SpikeAlertSpec)

    @field_validator("rate_window", "exclude_recent")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            _duration(window)
        if len(set(value)) != len(value):
            raise ValueError("`windows` lists a window twice")
        return value

    @field_validator("current_record", "baseline_record")
    @classmethod
    def _record(cls, value: str) -> str:
        if not _RECORD.match(value):
            raise ValueError(f"expected a metric name for a recording rule, got {value!r}")
        return value


class LLMSpec(_Strict):
    currency: Literal["usd", "cents"] = Field(default="usd", description="the currency of `prices`")
    per: Literal["1K", "1M"] = Field(default="1M", description="prices are per thousand or per million tokens")
    prices: dict[str, PriceSpec] = Field(default_factory=dict, description="model → prompt/completion price")
    token_label: str = Field(default="kind", description="label of the tokens metric saying prompt or completion")
    success_status: str = "success"
    error_status: str = "error"
    metrics: LLMMetricsSpec
    baseline: CostBaselineSpec | None = None

    @field_validator("token_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(f"expected a label name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _something(self) -> LLMSpec:
        if not any(getattr(self.metrics, role) for role in ROLES):
            raise ValueError("`llm.metrics` names no metric: map at least one of " + ", ".join(ROLES))
        return self


# --- resolved -------------------------------------------------------------------------------------------------

#: role → (allowed metric types, labels it may carry; "$token" is the tokens label)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "requests": (("counter",), ("model", "operation", "status")),
    "latency": (("histogram",), ("model", "operation", "status")),
    "tokens": (("counter", "histogram"), ("model", "operation", "$token")),
    "errors": (("counter",), ("model", "operation", "error_type")),
    "cost": (("counter", "gauge"), ("model", "operation")),
    "cache_hits": (("counter",), ("model", "operation")),
    "cache_misses": (("counter",), ("model", "operation")),
    "cache_savings": (("counter", "gauge"), ("model", "operation")),
}
MONEY_ROLES = ("cost", "cache_savings")
TOKENS_PER = {"1K": 1_000, "1M": 1_000_000}


@dataclass(frozen=True)
class SpikeAlert:
    name: str
    factor: float
    for_: str
    window: str
    severity: str
    min_cost_per_hour: float
    labels: dict[str, str]
    runbook_url: str | None


@dataclass(frozen=True)
class CostBaseline:
    rate_window: str
    windows: tuple[str, ...]
    exclude_recent: str
    by: tuple[str, ...]
    current_record: str
    baseline_record: str
    spike: SpikeAlert | None


@dataclass(frozen=True)
class LLMConfig:
    """The resolved ``llm`` section."""

    currency: str
    per_tokens: int
    prices: Mapping[str, tuple[float, float]]  # model → (prompt, completion) per `per_tokens`, in `currency`
    token_label: str | None  # set when the tokens metric has that label
    success_status: str
    error_status: str
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    baseline: CostBaseline | None = None

    def money_scale(self, metric: Metric) -> float:
        """Multiplier from the price currency to ``metric``'s unit (100 for usd prices into a cents metric)."""
        if metric.unit == self.currency:
            return 1.0
        return 100.0 if self.currency == "usd" else 0.01


def resolve_llm(
    spec: LLMSpec | None,
    metrics: Mapping[str, Metric],
    problem: Callable[[PathKey, str], None],
    alert_names: set[str],
) -> LLMConfig | None:
    """Cross-check the ``llm`` section against the catalogue; problems are reported through ``problem``."""
    if spec is None:
        return None
    roles: dict[str, Metric] = {}
    token_label: str | None = None
    for role, (types, allowed) in ROLES.items():
        name = getattr(spec.metrics, role)
        if name is None:
            continue
        where: PathKey = ("llm", "metrics", role)
        metric = metrics.get(name)
        if metric is None:
            problem(where, f"unknown metric {name!r}; the llm {role} metric must be in the catalogue")
            continue
        if metric.type not in types:
            problem(where, f"the llm {role} metric must be a {' or '.join(types)}, but {name} is a {metric.type}")
            continue
        names = tuple(spec.token_label if a == "$token" else a for a in allowed)
        extra = [label for label in metric.label_names if label not in names]
        if extra:
            problem(where, f"{name} has labels {', '.join(extra)}; an llm {role} metric may have {', '.join(names)}")
            continue
        if role in MONEY_ROLES and metric.unit not in ("usd", "cents"):
            problem(where, f"{name} counts money: give it `unit: usd` or `unit: cents` (it has {metric.unit!r})")
            continue
        if role == "latency" and metric.unit not in ("seconds", "milliseconds"):
            problem(where, f"{name} is a latency: give it `unit: seconds` or `unit: milliseconds`")
            continue
        status = metric.label("status")
        if status is not None and status.values is not None:
            missing = [s for s in (spec.success_status, spec.error_status) if s not in status.values]
            if missing:
                problem(
                    where,
                    f"{name}'s status label does not allow {', '.join(missing)}; set llm.success_status and "
                    "llm.error_status to values it allows",
                )
                continue
        if role == "tokens" and spec.token_label in metric.label_names:
            label = metric.label(spec.token_label)
            if label is not None and label.values is not None and not {"prompt", "completion"} <= label.values:
                problem(where, f"{name}'s {spec.token_label} label must allow prompt and completion")
                continue
            token_label = spec.token_label
        roles[role] = metric
    baseline = _baseline(spec, roles, problem, alert_names)
    return LLMConfig(
        currency=spec.currency,
        per_tokens=TOKENS_PER[spec.per],
        prices={model: (price.prompt, price.completion) for model, price in spec.prices.items()},
        token_label=token_label,
        success_status=spec.success_status,
        error_status=spec.error_status,
        metrics=roles,
        baseline=baseline,
    )


def _baseline(
    spec: LLMSpec, roles: Mapping[str, Metric], problem: Callable[[PathKey, str], None], alert_names: set[str]
) -> CostBaseline | None:
    wire = spec.baseline
    if wire is None:
        return None
    where: PathKey = ("llm", "baseline")
    cost = roles.get("cost")
    if cost is None or cost.type != "counter":
        problem(where, "a cost baseline needs `llm.metrics.cost`, a counter")
        return None
    for i, label in enumerate(wire.by):
        if label not in cost.label_names:
            problem((*where, "by", i), f"{cost.name} has no label {label!r}; it has {', '.join(cost.label_names)}")
            return None
    exclude = duration_seconds(wire.exclude_recent)
    for i, window in enumerate(wire.windows):
        if duration_seconds(window) <= exclude:
            problem(
                (*where, "windows", i), f"window {window} must be longer than exclude_recent ({wire.exclude_recent})"
            )
            return None
    if duration_seconds(wire.rate_window) >= exclude:
        problem((*where, "rate_window"), "rate_window must be shorter than exclude_recent")
        return None
    if wire.current_record == wire.baseline_record:
        problem((*where, "baseline_record"), "the current and baseline records need different names")
        return None
    spike: SpikeAlert | None = None
    if wire.spike is not None:
        window = wire.spike.window or wire.windows[0]
        if window not in wire.windows:
            problem((*where, "spike", "window"), f"window {window} is not one of the baseline windows")
            return None
        if wire.spike.alert in alert_names:
            problem((*where, "spike", "alert"), f"alert {wire.spike.alert!r} is already defined in `alerts`")
            return None
        if duration_seconds(wire.spike.for_) + duration_seconds(wire.rate_window) >= exclude:
            problem(
                (*where, "spike", "for"),
                "rate_window + for must be shorter than exclude_recent, or a spike raises its own baseline first",
            )
            return None
        spike = SpikeAlert(
            name=wire.spike.alert,
            factor=wire.spike.factor,
            for_=wire.spike.for_,
            window=window,
            severity=wire.spike.severity,
            min_cost_per_hour=wire.spike.min_cost_per_hour,
            labels=dict(wire.spike.labels),
            runbook_url=wire.spike.runbook_url,
        )
    return CostBaseline(
        rate_window=wire.rate_window,
        windows=tuple(wire.windows),
        exclude_recent=wire.exclude_recent,
        by=tuple(wire.by),
        current_record=wire.current_record,
        baseline_record=wire.baseline_record,
        spike=spike,
    )
