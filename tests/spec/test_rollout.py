"""The `rollouts` section: resolved from the fixture, and every mistake named with file:line:column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec, load_spec_text

FIXTURE = Path(__file__).parents[1] / "fixtures" / "canary" / "rollout.yaml"


def test_fixture_resolves_phases_metrics_and_queries() -> None:
    rollout = load_spec(FIXTURE).rollouts[0]
    assert [p.name for p in rollout.phases] == ["canary", "expansion", "full"]
    assert [p.baseline_window for p in rollout.phases] == ["concurrent", "concurrent", "preceding"]
    assert rollout.confidence == pytest.approx(0.98)
    errors, latency = rollout.metrics
    assert rollout.numerator_query(errors, "canary") == (
        '(sum(increase(checkout_requests_completed_total{outcome="error", track="canary"}[1m])) or vector(0))'
    )
    assert rollout.events_query(errors, "baseline") == (
        'sum(increase(checkout_requests_completed_total{track="baseline"}[1m]))'
    )
    assert rollout.buckets_query(latency, "canary") == (
        'sum by (le) (increase(checkout_request_duration_seconds_bucket{track="canary"}[1m]))'
    )
    assert errors.tolerance(0.01) == pytest.approx(0.0025)  # 25 % of 1 % beats the absolute 0.2 pp
    assert errors.tolerance(0.001) == pytest.approx(0.002)
    assert rollout.alert_name == "CheckoutV2CanaryWorse"


def _spec(rollout_yaml: str) -> str:
    text = FIXTURE.read_text()
    head = text[: text.index("rollouts:")]
    return head + rollout_yaml


BASE = """rollouts:
  - name: v2
    phases:
      - {name: canary, weight: 5, min_duration: 30m}
    metrics:
      - name: errors
        ratio:
          numerator: 'checkout_requests_completed_total{outcome="error"}'
          denominator: checkout_requests_completed_total
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "spec.yaml")
    return [str(p) for p in info.value.problems]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_base_loads() -> None:
    (rollout,) = load_spec_text(_spec(BASE), "spec.yaml").rollouts
    assert rollout.label == "track" and rollout.metrics[0].direction == "increase"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('outcome="error"', 'outcome="boom"', "can never match: outcome takes error, ok"),
        (
            "denominator: checkout_requests_completed_total",
            "denominator: checkout_requests_complete_total",
            "unknown metric 'checkout_requests_complete_total'",
        ),
        (
            "denominator: checkout_requests_completed_total\n",
            "denominator: 'sum(checkout_requests_total)'\n",
            "expected a counter selector",
        ),
        ("min_duration: 30m", "min_duration: 5m", "the test needs at least 10"),
        (
            "weight: 5, min_duration: 30m",
            "weight: 100, min_duration: 30m, baseline_window: concurrent",
            "no traffic is left on the baseline",
        ),
        ("    phases:", "    canary: beta\n    phases:", "track label does not allow 'beta'"),
        ('outcome="error"', 'outcome="error", track="canary"', "jobpulse adds it for each side"),
        ("    phases:", "    interval: 15s\n    phases:", "fewer than two scrapes"),
        ("    phases:", "    matchers: '{env=\"prod\"}'\n    phases:", "unknown label 'env'"),
    ],
)
def test_mistakes_are_located(old: str, new: str, message: str) -> None:
    text = _spec(BASE.replace(old, new))
    problems = _problems(text)
    assert any(message in p for p in problems), problems
    assert all(p.startswith("spec.yaml:") for p in problems)
    line = int(problems[0].split(":")[1])
    assert line >= _line_of(text, "rollouts:")


def test_label_missing_on_metric_names_the_metric() -> None:
    text = _spec(BASE.replace("    phases:", "    label: version\n    phases:"))
    problems = _problems(text)
    assert any("checkout_requests_completed_total has no label 'version'" in p for p in problems), problems


def test_latency_needs_a_histogram() -> None:
    text = _spec(BASE + "      - name: slow\n        latency: {histogram: checkout_requests_total}\n")
    problems = _problems(text)
    assert any("unknown histogram 'checkout_requests_total'" in p or "needs a histogram" in p for p in problems)
    assert any(f"spec.yaml:{_line_of(text, 'histogram: checkout_requests_total')}:" in p for p in problems), problems


def test_unknown_key_is_reported_with_a_suggestion() -> None:
    problems = _problems(_spec(BASE.replace("    phases:", "    confidense: 99\n    phases:")))
    assert any("unknown key 'confidense'" in p and "did you mean 'confidence'" in p for p in problems), problems


def test_rollout_alert_name_must_not_clash() -> None:
    text = _spec(BASE).replace(
        "jobs:",
        "alerts:\n  - {name: V2CanaryWorse, expr: 'checkout_requests_total > 0', severity: warning, summary: s, "
        "description: d}\njobs:",
    )
    problems = _problems(text)
    assert any("its alert 'V2CanaryWorse' clashes" in p for p in problems), problems


# --- property: any mutation of the rollouts section loads or fails with located errors, never a crash -------

LOCATED = re.compile(r"^spec\.yaml:\d+:\d+: error: ", re.MULTILINE)
FIELD_VALUES = st.sampled_from(
    ["0", "-1", "100", "150", "1m", "5s", "x", "''", "[]", "{}", "null", "'{a=\"b\"}'", "canary", "either", "1e9"]
)
FIELDS = [
    "label", "canary", "baseline", "interval", "confidence", "pass_score", "matchers", "weight", "min_duration",
    "min_events", "baseline_window", "direction", "allowed_relative", "allowed_absolute", "critical", "quantile",
    "histogram", "numerator", "denominator",
]  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_rollouts_load_or_fail_located(data: st.DataObject) -> None:
    text = FIXTURE.read_text()
    head, rollouts = text[: text.index("rollouts:")], text[text.index("rollouts:") :]
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from(FIELDS))
        value = data.draw(FIELD_VALUES)
        rollouts = re.sub(rf"({field}: )[^,}}\n]+", lambda m, value=value: m.group(1) + value, rollouts, count=1)
    try:
        load_spec_text(head + rollouts, "spec.yaml")
    except SpecError as exc:
        assert exc.problems
        for line in str(exc).splitlines():
            assert LOCATED.match(line), line


def test_a_spec_test_may_name_the_rollout_alert() -> None:
    text = _spec(BASE) + (
        "tests:\n  - name: quiet\n    input_series: [{series: 'checkout_requests_total{track=\"canary\"}', "
        "values: '0+1x10'}]\n    alert_rule_test: [{eval_time: 5m, alertname: V2CanaryWorse}]\n"
    )
    assert load_spec_text(text, "spec.yaml").tests[0].alert_rule_test[0].alertname == "V2CanaryWorse"
