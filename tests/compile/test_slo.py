"""SLOs: workbook factors and clean thresholds, resolution errors, generated rules and tests."""

from __future__ import annotations

import math
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jobpulse.cli.test import test_command as jobpulse_test
from jobpulse.compile import compile_spec
from jobpulse.compile.slo_rules import error_ratio_expr, tier_expr
from jobpulse.compile.slo_tests import detection_minutes
from jobpulse.render.files import render_all
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec_text
from jobpulse.spec.model import Spec
from jobpulse.spec.promql import parse
from tests.helpers import MINIMAL_SPEC

EVENTS_SLO = """
slos:
  - name: work-success
    objective: {objective}
    period: {period}
    sli:
      events:
        bad: 'jobs_done_total{{outcome="error"}}'
        total: jobs_done_total
{extra}"""


def _spec(objective: object = 99.9, period: str = "30d", extra: str = "") -> Spec:
    return load_spec_text(MINIMAL_SPEC + EVENTS_SLO.format(objective=objective, period=period, extra=extra), "s.yaml")


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec_text(MINIMAL_SPEC + text, "s.yaml")
    return str(info.value)


def test_workbook_factors_for_30_days() -> None:
    slo = _spec().slos[0]
    assert [(t.name, t.long, t.short, str(t.factor)) for t in slo.tiers] == [
        ("page_1h", "1h", "5m", "14.4"),
        ("page_6h", "6h", "30m", "6"),
        ("ticket_1d", "1d", "2h", "3"),
        ("ticket_3d", "3d", "6h", "1"),
    ]
    assert [t.severity for t in slo.tiers] == ["page", "page", "ticket", "ticket"]


def test_thresholds_are_clean_decimals() -> None:
    spec = _spec()
    slo = spec.slos[0]
    exprs = [tier_expr(slo, t) for t in slo.tiers]
    assert "> 0.0144\n" in exprs[0]
    assert "> 0.006\n" in exprs[1]
    assert "> 0.003\n" in exprs[2]
    assert "> 0.001\n" in exprs[3]
    rules = render_all(compile_spec(spec))["prometheus/mini.rules.yml"].decode()
    assert "vector(0.999)" in rules and "vector(0.001)" in rules
    assert "0.000999" not in rules and "99999" not in rules


@pytest.mark.parametrize(
    ("period", "factors"),
    [
        ("14d", ["6.72", "2.8", "1.4"]),  # ticket_3d (0.466666666667) would fire on a harmless burn: left out
        ("28d", ["13.44", "5.6", "2.8", "0.933333333333"]),
        ("90d", ["43.2", "18", "9", "3"]),
    ],
)
def test_factors_scale_with_the_period(period: str, factors: list[str]) -> None:
    # keep "budget spent" fixed: factor = spent x period / long window (7d has its own windows: tests/compile)
    assert [str(t.factor) for t in _spec(period=period).slos[0].tiers] == factors


def test_a_window_longer_than_the_period_is_left_out() -> None:
    slo = _spec(period="2d").slos[0]
    assert [t.name for t in slo.tiers] == ["page_1h"]  # page_6h and ticket_1d would fire on harmless burns
    assert any("ticket_3d" in u and "longer than the 2d period" in u for u in slo.unreachable_tiers)


def test_tiers_can_be_switched_off_and_given_a_for() -> None:
    extra = "    alerts:\n      tiers:\n        ticket_3d: {enabled: false}\n        page_1h: {for: 5m}\n"
    slo = _spec(extra=extra).slos[0]
    assert [t.name for t in slo.tiers] == ["page_1h", "page_6h", "ticket_1d"]
    assert slo.tiers[0].for_ == "5m"


def test_a_tier_that_can_never_fire_is_left_out_and_said() -> None:
    slo = _spec(objective=90).slos[0]
    assert "page_1h" not in [t.name for t in slo.tiers]
    assert any("page_1h" in u and "could never fire" in u for u in slo.unreachable_tiers)
    result = compile_spec(_spec(objective=90))
    assert any("page_1h" in note for note in result.notes)


def test_latency_threshold_must_be_a_bucket_boundary() -> None:
    text = """
slos:
  - name: fast
    objective: 99
    sli:
      latency: {metric: job_seconds, threshold: 2}
"""
    message = _error(text)
    assert "threshold 2 is not a bucket boundary of job_seconds; the nearest boundaries are 1 and 10" in message
    assert message.startswith("s.yaml:")


def test_latency_sli_uses_the_bucket_and_count() -> None:
    spec = load_spec_text(
        MINIMAL_SPEC + "slos:\n  - name: fast\n    objective: 99\n    sli:\n      latency: "
        "{metric: job_seconds, threshold: 1, selector: '{outcome=\"ok\"}'}\n",
        "s.yaml",
    )
    expr = error_ratio_expr(spec.slos[0], "1h")
    assert 'job_seconds_bucket{outcome="ok", le=~"1\\\\.0|1"}[1h]' in expr
    assert 'job_seconds_count{outcome="ok"}[1h]' in expr


@pytest.mark.parametrize(
    ("sli", "expected"),
    [
        ("events: {bad: 'nope_total', total: jobs_done_total}", "unknown metric 'nope_total'"),
        ("events: {bad: 'jobs_done_total{outcom=\"error\"}', total: jobs_done_total}", "unknown label 'outcom'"),
        ("events: {total: jobs_done_total}", "exactly one of `good` or `bad`"),
        ("events: {bad: 'queue_depth', total: jobs_done_total}", "is a gauge"),
        ("events: {bad: 'sum(rate(jobs_done_total[5m]))', total: jobs_done_total}", "must use [$window]"),
        ("latency: {metric: queue_depth, threshold: 1}", "needs a histogram"),
    ],
)
def test_sli_errors(sli: str, expected: str) -> None:
    assert expected in _error(f"slos:\n  - name: x\n    objective: 99\n    sli:\n      {sli}\n")


def test_group_by_makes_one_slo_per_label_value() -> None:
    spec = _spec(extra="    group_by: [queue]\n")
    expr = error_ratio_expr(spec.slos[0], "5m")
    assert "sum by (queue) (increase(jobs_done_total[5m]))" in expr
    assert "group_by label" in _error(EVENTS_SLO.format(objective=99, period="30d", extra="    group_by: [tenant]\n"))


def test_zero_traffic_cannot_produce_nan() -> None:
    expr = error_ratio_expr(_spec().slos[0], "1h")
    # the division only happens where total > 0; otherwise the ratio is 0 * total = 0
    assert "> 0)" in expr and "or\n0 * " in expr


def test_period_ratio_sums_counts_over_the_period() -> None:
    rules = yaml.safe_load(render_all(compile_spec(_spec()))["prometheus/mini.rules.yml"])
    by_record = {r.get("record"): r for g in rules["groups"] for r in g["rules"] if "record" in r}
    period = by_record["slo:sli_error:ratio_rate30d"]["expr"]
    assert "increase(jobs_done_total[30d])" in period
    assert "ratio_rate5m" not in period  # not an average of short ratios
    assert (
        by_record["slo:error_budget:remaining"]["expr"] == '1 - slo:sli_error:ratio_rate30d{slo="work-success"} / 0.001'
    )


def test_every_alert_has_the_required_metadata() -> None:
    rules = yaml.safe_load(render_all(compile_spec(_spec()))["prometheus/mini.rules.yml"])
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 4
    for alert in alerts:
        assert set(alert["labels"]) >= {"severity", "slo", "tier", "long_window", "short_window"}
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url", "dashboard"}
        assert alert["annotations"]["runbook_url"] == "docs/alerts.md#worksuccesserrorbudgetburn"
        assert "min_events" not in alert["expr"] and ">= 10" in alert["expr"]


@pytest.mark.parametrize(("burn", "long", "factor"), [(28.8, "1h", "14.4"), (12, "6h", "6"), (6, "1d", "3")])
def test_detection_time_follows_the_workbook(burn: float, long: str, factor: str) -> None:
    slo = _spec().slos[0]
    tier = next(t for t in slo.tiers if t.long == long)
    assert str(tier.factor) == factor
    minutes = {"1h": 60, "6h": 360, "1d": 1440}[long]
    # with a full window of healthy traffic before the burn: time to detect = long x factor / burn
    expected = minutes * float(tier.factor) / burn
    assert detection_minutes(tier, Decimal(str(burn)), baseline=minutes) == math.floor(expected) + 1


def test_999_slo_alerts_fire_when_the_workbook_predicts(tmp_path: Path, promtool: str) -> None:
    """The generated promtool tests: each tier fires at the predicted minute, never below, never idle."""
    spec_file = tmp_path / "jobpulse.yaml"
    spec_file.write_text(MINIMAL_SPEC + EVENTS_SLO.format(objective=99.9, period="30d", extra=""))
    result = CliRunner().invoke(jobpulse_test, [str(spec_file)])
    assert result.exit_code == 0, result.output
    for expected in [
        "page_1h fires on a burn of 15.84x (just above 14.4x): detected after 55m of burn, firing 2m later",
        "page_6h fires on a burn of 6.6x (just above 6x): detected after 328m of burn, firing 15m later",
        "ticket_1d fires on a burn of 3.3x (just above 3x): detected after 1310m of burn, firing 1h later",
        "ticket_3d fires on a burn of 1.1x (just above 1x): detected after 3928m of burn, firing 3h later",
        "a burn of 0.9x (just below the lowest factor) never fires",
        "zero traffic never fires and gives 0, not NaN",
        "stay under the min_events guard of 10 and do not page",
    ]:
        assert expected in result.output
    assert "one failed request at one request every 20m pages nobody" in result.output
    assert "10 passed, 0 failed" in result.output


def test_generated_tests_catch_a_wrong_threshold(
    tmp_path: Path, promtool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rules used the wrong factor, the generated tests must fail."""
    import jobpulse.compile.slo_rules as slo_rules

    real = slo_rules.tier_threshold

    def doubled(slo, tier):  # type: ignore[no-untyped-def]
        return str(Decimal(real(slo, tier)) * 2)

    monkeypatch.setattr(slo_rules, "tier_threshold", doubled)
    spec_file = tmp_path / "jobpulse.yaml"
    off = "{enabled: false}"
    extra = f"    alerts:\n      tiers: {{page_6h: {off}, ticket_1d: {off}, ticket_3d: {off}}}\n"
    spec_file.write_text(MINIMAL_SPEC + EVENTS_SLO.format(objective=99.9, period="30d", extra=extra))
    result = CliRunner().invoke(jobpulse_test, [str(spec_file)])
    assert result.exit_code == 1, result.output
    assert "FAIL SLO work-success: page_1h fires" in result.output


@pytest.mark.parametrize("shift", [-210, 210], ids=["fires-later-than-said", "fires-earlier-than-said"])
def test_a_test_on_the_30_minute_grid_still_catches_a_firing_time_off_by_its_margin_and_a_step(
    tmp_path: Path, promtool: str, monkeypatch: pytest.MonkeyPatch, shift: int
) -> None:
    """ticket_3d's test is evaluated every 30 minutes (margin 173): a prediction 210 minutes off must fail it."""
    import jobpulse.compile.slo_tests as slo_tests

    real = slo_tests.fire_minute

    def off(tier, burn, baseline):  # type: ignore[no-untyped-def]
        minute = real(tier, burn, baseline)
        return minute + shift if minute is not None and tier.name == "ticket_3d" else minute

    monkeypatch.setattr(slo_tests, "fire_minute", off)
    spec_file = tmp_path / "jobpulse.yaml"
    off_ = "{enabled: false}"
    extra = f"    alerts:\n      tiers: {{page_1h: {off_}, page_6h: {off_}, ticket_1d: {off_}}}\n"
    spec_file.write_text(MINIMAL_SPEC + EVENTS_SLO.format(objective=99.9, period="30d", extra=extra))
    tests = compile_spec(load_spec_text(spec_file.read_text(), str(spec_file))).test_groups
    ticket = next(g for g in tests if "ticket_3d fires" in g.name)
    assert ticket.evaluation_interval == "30m"
    result = CliRunner().invoke(jobpulse_test, [str(spec_file)])
    assert result.exit_code == 1, result.output
    assert "FAIL SLO work-success: ticket_3d fires" in result.output


objectives = st.decimals(min_value=Decimal("50"), max_value=Decimal("99.999"), places=3)
periods = st.sampled_from(["1d", "7d", "14d", "28d", "30d", "90d", "4w", "2160h"])


@settings(max_examples=40, deadline=None)
@given(objective=objectives, period=periods)
def test_any_valid_objective_and_period_builds_parseable_rules(objective: Decimal, period: str) -> None:
    spec = _spec(objective=objective, period=period)
    slo = spec.slos[0]
    for tier in slo.tiers:
        threshold = tier.factor * slo.budget
        assert 0 < threshold < 1
        assert len(str(tier.factor).replace(".", "")) <= 16  # no float noise
    rules = yaml.safe_load(render_all(compile_spec(spec))["prometheus/mini.rules.yml"])
    for group in rules["groups"]:
        for rule in group["rules"]:
            parse(rule["expr"])  # raises on invalid PromQL


@settings(max_examples=8, deadline=None)
@given(objective=objectives, period=periods)
def test_random_slos_pass_promtool_check(
    objective: Decimal, period: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from jobpulse.verify.binaries import find_binary

    promtool = find_binary("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    out = tmp_path_factory.mktemp("rules") / "r.yml"
    out.write_bytes(render_all(compile_spec(_spec(objective=objective, period=period)))["prometheus/mini.rules.yml"])
    proc = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("objective", "period", "expected"),
    [
        ("100", "30d", "less than 100"),
        ("0", "30d", "greater than 0"),
        ("'abc'", "30d", "valid number"),
        ("99.9", "30 days", "expected a Prometheus duration"),
    ],
)
def test_invalid_objective_or_period_is_a_clear_error(objective: str, period: str, expected: str) -> None:
    message = _error(EVENTS_SLO.format(objective=objective, period=period, extra=""))
    assert expected in message
    assert message.startswith("s.yaml:")
