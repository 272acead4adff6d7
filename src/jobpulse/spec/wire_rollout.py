"""Wire models for the ``rollouts`` section: staged rollouts that ``jobpulse canary`` judges.

A rollout names the label that tells the new version (the canary) from the version it is compared with (the
baseline), its phases (traffic weight, minimum duration, minimum events per side) and the metrics to compare
(a ratio of counters, or a latency quantile from a histogram), each with the direction that is bad and the
difference that is allowed. Cross-checks against the catalogue live in :mod:`jobpulse.spec.rollout_resolve`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
NAME_PATTERN = r"^[a-z][a-z0-9-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"expected a Prometheus duration such as 1m, 30m or 2h, got {value!r}")
    return value


def _matchers(value: str) -> str:
    value = value.strip()
    if value and not (value.startswith("{") and value.endswith("}")):
        raise ValueError('expected label matchers in braces, e.g. {env="prod"}')
    return value


class RatioSpec(_Strict):
    """``numerator / denominator``, both counter selectors; numerator events must be a subset of the denominator's."""

    numerator: str = Field(min_length=1, description='a counter selector, e.g. http_requests_total{status=~"5.."}')
    denominator: str = Field(min_length=1, description="a counter selector, e.g. http_requests_total")


class LatencySpec(_Strict):
    """A quantile of a histogram, per interval and side."""

    histogram: str = Field(min_length=1, description="a histogram of the catalogue")
    quantile: float = Field(default=0.95, gt=0, lt=1)
    selector: str = Field(default="", description='label matchers applied to the histogram, e.g. {route="/api"}')

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return _matchers(value)


class CompareSpec(_Strict):
    """One metric compared between the sides: exactly one of ``ratio`` or ``latency``."""

    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    description: str = ""
    ratio: RatioSpec | None = None
    latency: LatencySpec | None = None
    direction: Literal["increase", "decrease", "either"] = Field(
        default="increase", description="which change of the canary is bad"
    )
    allowed_relative: float = Field(
        default=0.1, ge=0, description="a worse canary passes while it is within this fraction of the baseline"
    )
    allowed_absolute: float = Field(
        default=0.0, ge=0, description="... or within this absolute difference (in the metric's unit)"
    )
    critical: bool = Field(default=False, description="a failure of this metric fails the phase whatever the score")

    @model_validator(mode="after")
    def _one_kind(self) -> CompareSpec:
        if (self.ratio is None) == (self.latency is None):
            raise ValueError("a compared metric is either a `ratio` or a `latency`")
        return self


class PhaseSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    weight: float = Field(gt=0, le=100, description="percent of the traffic the canary gets")
    min_duration: str = Field(default="30m", description="how long the phase runs before it is judged")
    min_events: int = Field(default=100, ge=1, description="events each side needs per metric before a verdict")
    baseline_window: Literal["concurrent", "preceding"] | None = Field(
        default=None,
        description="compare with the baseline over the same window (default), or over the window just before "
        "the phase (the default for weight 100, when no traffic is left on the baseline)",
    )

    @field_validator("min_duration")
    @classmethod
    def _min_duration(cls, value: str) -> str:
        return _duration(value)


class RolloutSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    description: str = ""
    label: str = Field(default="track", description="the label that tells the canary from the baseline")
    canary: str = Field(default="canary", min_length=1, description="the label's value on the new version")
    baseline: str = Field(default="baseline", min_length=1, description="the label's value on the compared version")
    matchers: str = Field(default="", description='extra label matchers for every query, e.g. {env="prod"}')
    interval: str = Field(default="1m", description="the width of one sample: each side gives one per interval")
    confidence: float = Field(default=98, gt=50, lt=100, description="confidence level of the test, in percent")
    pass_score: float = Field(
        default=75, ge=0, le=100, description="the percent of judged metrics that must pass for the phase to pass"
    )
    phases: list[PhaseSpec] = Field(min_length=1)
    metrics: list[CompareSpec] = Field(min_length=1)
    severity: str = Field(default="warning", min_length=1, description="severity of the generated alerts")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value) or value.startswith("__"):
            raise ValueError(f"expected a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __), got {value!r}")
        return value

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: str) -> str:
        return _matchers(value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _sides_differ(self) -> RolloutSpec:
        if self.canary == self.baseline:
            raise ValueError("`canary` and `baseline` must be different values of the label")
        return self
