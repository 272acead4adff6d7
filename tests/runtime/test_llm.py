"""LLM calls and cost: the spec's `llm` section, and recording calls, tokens, errors, cost and cache use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from jobpulse.runtime.llm import LLMTelemetry, error_type_name, llm_telemetry
from jobpulse.runtime.metrics import LabelError, Telemetry
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec, load_spec_text

AI_SHORTS = Path(__file__).resolve().parents[2] / "examples" / "ai_shorts" / "jobpulse.yaml"

#: seed 002's OpenAI metrics (names, labels, buckets), with the cost as a USD counter and a cache in cents
SEED_002 = """
version: jobpulse/v1
service: {name: luneo, evaluation_interval: 1m}
metrics:
  - name: luneo_openai_requests_total
    type: counter
    help: OpenAI requests.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
      operation: {values: [chat, image_generation, embedding]}
  - name: luneo_openai_request_duration_seconds
    type: histogram
    unit: seconds
    help: OpenAI request duration.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
      operation: {values: [chat, image_generation, embedding]}
      status: {values: [success, error]}
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60]
  - name: luneo_openai_requests_error_total
    type: counter
    help: Failed OpenAI requests.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
      operation: {values: [chat, image_generation, embedding]}
      error_type: {max_values: 3}
  - name: luneo_openai_tokens_total
    type: counter
    unit: tokens
    help: Tokens used.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
      kind: {values: [prompt, completion]}
  - name: luneo_openai_cost_usd_total
    type: counter
    unit: usd
    help: Money spent on OpenAI, in USD.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
      operation: {values: [chat, image_generation, embedding]}
  - name: luneo_llm_cache_hits_total
    type: counter
    help: Cache hits.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
  - name: luneo_llm_cache_misses_total
    type: counter
    help: Cache misses.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
  - name: luneo_llm_cache_savings_cents_total
    type: counter
    unit: cents
    help: Money not spent thanks to the cache, in cents.
    labels:
      model: {values: [gpt-4o, gpt-4o-mini, dall-e-3]}
llm:
  currency: usd
  per: 1M
  prices:
    gpt-4o: {prompt: 2.5, completion: 10}
    gpt-4o-mini: {prompt: 0.15, completion: 0.6}
  metrics:
    requests: luneo_openai_requests_total
    latency: luneo_openai_request_duration_seconds
    errors: luneo_openai_requests_error_total
    tokens: luneo_openai_tokens_total
    cost: luneo_openai_cost_usd_total
    cache_hits: luneo_llm_cache_hits_total
    cache_misses: luneo_llm_cache_misses_total
    cache_savings: luneo_llm_cache_savings_cents_total
  baseline:
    windows: [1d, 7d]
    current_record: luneo_ai_cost_current_usd
    baseline_record: luneo_ai_cost_baseline_usd
    spike:
      alert: CostSpikeDetected
      factor: 2
      for: 5m
"""


def make(text: str = SEED_002, *, strict: bool = False) -> tuple[LLMTelemetry, CollectorRegistry]:
    registry = CollectorRegistry()
    telemetry = Telemetry(load_spec_text(text), registry=registry, strict=strict)
    return LLMTelemetry(telemetry), registry


def test_seed_002_call_updates_every_metric() -> None:
    llm, registry = make()
    cost = llm.record_llm_call("gpt-4o", "chat", prompt_tokens=1000, completion_tokens=500, latency=1.5)
    assert cost == pytest.approx((2.5 * 1000 + 10 * 500) / 1e6)
    get = registry.get_sample_value
    assert get("luneo_openai_requests_total", {"model": "gpt-4o", "operation": "chat"}) == 1
    labels = {"model": "gpt-4o", "operation": "chat", "status": "success"}
    assert get("luneo_openai_request_duration_seconds_bucket", {**labels, "le": "1.0"}) == 0
    assert get("luneo_openai_request_duration_seconds_bucket", {**labels, "le": "2.0"}) == 1
    assert get("luneo_openai_tokens_total", {"model": "gpt-4o", "kind": "prompt"}) == 1000
    assert get("luneo_openai_tokens_total", {"model": "gpt-4o", "kind": "completion"}) == 500
    assert get("luneo_openai_cost_usd_total", {"model": "gpt-4o", "operation": "chat"}) == pytest.approx(0.0075)
    assert get("luneo_openai_requests_error_total", {"model": "gpt-4o", "operation": "chat", "error_type": "x"}) is None


def test_errors_by_type_are_bounded() -> None:
    llm, registry = make()
    for error in (TimeoutError(), TimeoutError, "RateLimitError", ValueError("bad"), KeyError, OSError):
        llm.record_llm_call("gpt-4o-mini", "chat", latency=0.2, error_type=error)
    get = registry.get_sample_value
    base = {"model": "gpt-4o-mini", "operation": "chat"}
    assert get("luneo_openai_requests_error_total", {**base, "error_type": "TimeoutError"}) == 2
    assert get("luneo_openai_requests_error_total", {**base, "error_type": "RateLimitError"}) == 1
    assert get("luneo_openai_requests_error_total", {**base, "error_type": "ValueError"}) == 1
    # a budget of 3 error types: the rest is __other__, and counted as an overflow
    assert get("luneo_openai_requests_error_total", {**base, "error_type": "__other__"}) == 2
    assert get("jobpulse_label_overflow_total", {"metric": "luneo_openai_requests_error_total", "label": "error_type"})
    assert get("luneo_openai_request_duration_seconds_count", {**base, "status": "error"}) == 6
    assert get("luneo_openai_requests_total", base) == 6


def test_an_error_status_without_a_type_is_unknown() -> None:
    llm, registry = make()
    llm.record_llm_call("gpt-4o", "chat", status="error")
    labels = {"model": "gpt-4o", "operation": "chat", "error_type": "unknown"}
    assert registry.get_sample_value("luneo_openai_requests_error_total", labels) == 1


def test_cache_hits_count_savings_in_the_metrics_unit() -> None:
    llm, registry = make()
    saved = llm.cache_hit("gpt-4o", prompt_tokens=1_000_000, completion_tokens=100_000)
    assert saved == pytest.approx(2.5 + 1.0)  # USD, the price table's currency
    llm.cache_hit("gpt-4o")  # tokens unknown: a hit, no savings
    llm.cache_miss("gpt-4o")
    get = registry.get_sample_value
    assert get("luneo_llm_cache_hits_total", {"model": "gpt-4o"}) == 2
    assert get("luneo_llm_cache_misses_total", {"model": "gpt-4o"}) == 1
    assert get("luneo_llm_cache_savings_cents_total", {"model": "gpt-4o"}) == pytest.approx(350.0)  # cents


def test_prices_in_cents_per_thousand_into_a_usd_metric() -> None:
    data = yaml.safe_load(SEED_002)
    data["llm"]["currency"] = "cents"
    data["llm"]["per"] = "1K"
    data["llm"]["prices"] = {"gpt-4o": {"prompt": 0.25, "completion": 1.0}}
    llm, registry = make(yaml.safe_dump(data))
    cost = llm.record_llm_call("gpt-4o", "chat", prompt_tokens=2000, completion_tokens=1000)
    assert cost == pytest.approx(1.5)  # cents
    value = registry.get_sample_value("luneo_openai_cost_usd_total", {"model": "gpt-4o", "operation": "chat"})
    assert value == pytest.approx(0.015)  # USD


def test_unpriced_models_are_counted_and_warned_once(jobpulse_log: pytest.LogCaptureFixture) -> None:
    llm, registry = make()
    for _ in range(3):
        assert llm.record_llm_call("dall-e-3", "image_generation", prompt_tokens=10) is None
    assert registry.get_sample_value("jobpulse_llm_unpriced_calls_total") == 3
    assert jobpulse_log.text.count("no price") == 1
    assert (
        registry.get_sample_value("luneo_openai_requests_total", {"model": "dall-e-3", "operation": "image_generation"})
        == 3
    )


def test_bad_arguments_never_raise_unless_strict() -> None:
    llm, registry = make()
    assert llm.record_llm_call("gpt-4o", "chat", prompt_tokens=-5) is None
    assert registry.get_sample_value("jobpulse_llm_record_errors_total") == 1
    assert registry.get_sample_value("luneo_openai_requests_total", {"model": "gpt-4o", "operation": "chat"}) is None
    strict, _ = make(strict=True)
    with pytest.raises(ValueError, match="negative"):
        strict.record_llm_call("gpt-4o", "chat", prompt_tokens=-5)
    with pytest.raises(LabelError):
        strict.record_llm_call("claude", "chat")


def test_seed_001_names_ai_shorts() -> None:
    """seed 001: llm_requests_total{model,status}, llm_latency_seconds{model}, tokens_used{model} (a histogram of
    tokens per call), cache_hits_total / cache_misses_total without labels."""
    registry = CollectorRegistry()
    telemetry = Telemetry(load_spec(AI_SHORTS), registry=registry)
    llm = llm_telemetry(telemetry)
    assert llm_telemetry(telemetry) is llm
    llm.record_llm_call("gpt-4o-mini", "script", prompt_tokens=300, completion_tokens=500, latency=0.8)
    llm.record_llm_call("gpt-4o-mini", "script", latency=3.0, error_type=TimeoutError)
    llm.cache_hit("gpt-4o-mini")
    llm.cache_miss("gpt-4o-mini")
    get = registry.get_sample_value
    assert get("llm_requests_total", {"model": "gpt-4o-mini", "status": "success"}) == 1
    assert get("llm_requests_total", {"model": "gpt-4o-mini", "status": "error"}) == 1
    assert get("llm_latency_seconds_count", {"model": "gpt-4o-mini"}) == 2
    assert get("tokens_used_sum", {"model": "gpt-4o-mini"}) == 800
    assert get("tokens_used_count", {"model": "gpt-4o-mini"}) == 1  # one observation per call
    assert get("cache_hits_total") == 1 and get("cache_misses_total") == 1


def test_error_type_name() -> None:
    assert error_type_name(TimeoutError("x")) == "TimeoutError"
    assert error_type_name(KeyError) == "KeyError"
    assert error_type_name("RateLimit") == "RateLimit"


def test_a_spec_without_llm_section_says_so() -> None:
    registry = CollectorRegistry()
    text = SEED_002.split("llm:\n")[0]
    with pytest.raises(ValueError, match="no `llm` section"):
        LLMTelemetry(Telemetry(load_spec_text(text), registry=registry))


# --- spec errors name the place ------------------------------------------------------------------------------


def _spec_error(change: dict[str, object]) -> str:
    data = yaml.safe_load(SEED_002)
    for dotted, value in change.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    with pytest.raises(SpecError) as info:
        load_spec_text(yaml.safe_dump(data, sort_keys=False))
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"llm.metrics.cost": "nope_total"}, "unknown metric 'nope_total'"),
        ({"llm.metrics.latency": "luneo_openai_requests_total"}, "must be a histogram"),
        ({"llm.metrics.requests": "luneo_openai_requests_error_total"}, "has labels error_type"),
        ({"llm.metrics.cost": "luneo_openai_requests_total"}, "counts money"),
        ({"llm.success_status": "ok"}, "does not allow ok"),
        ({"llm.baseline.by": ["shop"]}, "has no label 'shop'"),
        ({"llm.baseline.windows": ["30m"]}, "longer than exclude_recent"),
        ({"llm.baseline.spike.window": "2d"}, "not one of the baseline windows"),
        ({"llm.baseline.spike.for": "1h"}, "shorter than exclude_recent"),
        ({"llm.currency": "eur"}, "expected 'usd' or 'cents'"),
        ({"llm.per": "1000"}, "expected '1K' or '1M'"),
        ({"llm.metrics": {}}, "names no metric"),
        ({"llm.prices": {"gpt-4o": {"prompt": 1, "output": 2}}}, "unknown key 'output'"),
    ],
)
def test_spec_problems_are_located(change: dict[str, object], message: str) -> None:
    text = _spec_error(change)
    assert message in text
    assert "<spec>:" in text  # file:line:col


def test_spike_alert_name_clash() -> None:
    data = yaml.safe_load(SEED_002)
    data["alerts"] = [
        {
            "name": "CostSpikeDetected",
            "expr": "sum(rate(luneo_openai_cost_usd_total[5m])) > 1",
            "severity": "warning",
            "summary": "s",
            "description": "d",
        }
    ]
    with pytest.raises(SpecError, match="already defined"):
        load_spec_text(yaml.safe_dump(data))
