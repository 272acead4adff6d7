"""Wire models for the optional ``backtest`` section of a spec (``jobpulse backtest``).

A backtest drives the spec's real job tracker with a simulated clock through scenarios — a baseline of
healthy traffic and fault windows (failure ratio, latency, stalled queue, zero traffic, target down) —
and checks which alerts fire. Names of alerts are checked against the compiled rule file when the
backtest runs; everything else is checked here.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
#: ``AlertName`` or ``AlertName{label="value", ...}`` (the static labels that tell an alert's rules apart).
ALERT_REF = re.compile(r'^[A-Za-z][A-Za-z0-9_]*(\{\s*([a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"[^"]*"\s*,?\s*)*\})?$')
BUILTIN_SCENARIOS = ("healthy-week", "failure-spike", "latency-regression", "stalled-queue", "traffic-drop")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"expected a Prometheus duration such as 30s, 5m, 1h or 3d, got {value!r}")
    return value


def _check_refs(value: list[str]) -> list[str]:
    for ref in value:
        if not ALERT_REF.match(ref.strip()):
            raise ValueError(f'expected an alert name, optionally with labels (Name{{tier="page_1h"}}), got {ref!r}')
    return value


class LatencySpec(_Strict):
    """Job latency (enqueue → completion): log-normal through ``median`` and ``p95``, or fixed at ``median``."""

    median: str = Field(description="median job latency, a duration such as 20s")
    p95: str | None = Field(default=None, description="95th percentile (omit: every job takes `median`)")

    @field_validator("median", "p95")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @model_validator(mode="after")
    def _ordered(self) -> LatencySpec:
        from jobpulse.spec.slo import duration_seconds

        if duration_seconds(self.median) <= 0:
            raise ValueError("`median` must be longer than 0s")
        if self.p95 is not None and duration_seconds(self.p95) < duration_seconds(self.median):
            raise ValueError("`p95` must not be shorter than `median`")
        return self


class TrafficSpec(_Strict):
    """Healthy traffic: which job lifecycle, with which attributes, how often, how it fails, how long it takes."""

    job: str | None = Field(default=None, description="a job in `jobs` (default: the first)")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="the job's attributes (default: each label's first allowed value)"
    )
    rate: float | None = Field(default=None, ge=0, le=100_000, description="jobs enqueued per minute (default 10)")
    failure_ratio: float | None = Field(default=None, ge=0, le=1, description="share of jobs that fail (default 0)")
    latency: LatencySpec | None = None


class FaultSpec(_Strict):
    """A window of the scenario where traffic differs from its baseline."""

    name: str = ""
    start: str = Field(description="offset from the scenario's start, e.g. 1d")
    duration: str
    rate: float | None = Field(default=None, ge=0, le=100_000, description="jobs per minute (0: traffic drops)")
    failure_ratio: float | None = Field(default=None, ge=0, le=1)
    latency: LatencySpec | None = None
    stall: bool = Field(default=False, description="workers start no job; the backlog starts when the stall ends")
    down: bool = Field(default=False, description="the target is not scraped: no samples, `up` is 0")

    @field_validator("start", "duration")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _changes_something(self) -> FaultSpec:
        if (
            self.rate is None
            and self.failure_ratio is None
            and self.latency is None
            and not self.stall
            and not self.down
        ):
            raise ValueError("a fault needs at least one of rate, failure_ratio, latency, stall or down")
        return self


class ExpectSpec(_Strict):
    """Alerts that must fire during the scenario's faults, and alerts that must stay silent throughout."""

    fire: list[str] = Field(default_factory=list)
    silent: list[str] = Field(default_factory=list)

    @field_validator("fire", "silent")
    @classmethod
    def _refs(cls, value: list[str]) -> list[str]:
        return _check_refs(value)


class ScenarioSpec(TrafficSpec):
    """One scenario: baseline traffic (the section's ``baseline`` unless overridden here) and its faults."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)
    description: str = ""
    duration: str = "3d"
    faults: list[FaultSpec] = Field(default_factory=list)
    expect: ExpectSpec = Field(default_factory=ExpectSpec)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _duration(value)


class BacktestSpec(_Strict):
    """The ``backtest`` section: baseline traffic, expectations for built-in scenarios, own scenarios."""

    seed: int = Field(default=0, ge=0, description="random seed for job latencies (runs are reproducible)")
    builtin: bool = Field(default=True, description="run the built-in scenarios as well as the spec's own")
    baseline: TrafficSpec = Field(default_factory=TrafficSpec)
    expect: dict[str, ExpectSpec] = Field(
        default_factory=dict, description="expected alerts of built-in scenarios, by scenario name"
    )
    scenarios: list[ScenarioSpec] = Field(default_factory=list)
    ignore: list[str] = Field(
        default_factory=list,
        description="alerts reported but never judged: ones on metrics the simulation does not drive (heartbeats)",
    )

    @field_validator("ignore")
    @classmethod
    def _ignore_refs(cls, value: list[str]) -> list[str]:
        return _check_refs(value)

    @field_validator("expect")
    @classmethod
    def _builtin_names(cls, value: dict[str, ExpectSpec]) -> dict[str, ExpectSpec]:
        for name in value:
            if name not in BUILTIN_SCENARIOS:
                raise ValueError(
                    f"{name!r} is not a built-in scenario ({', '.join(BUILTIN_SCENARIOS)}); "
                    "put expectations of your own scenarios under `scenarios`"
                )
        return value

    @model_validator(mode="after")
    def _unique(self) -> BacktestSpec:
        names = [s.name for s in self.scenarios]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"scenario names must be unique: {', '.join(twice)} appears twice")
        return self
