"""SLO rules on real-world traffic: low-traffic guards, bucket spellings, short periods (issue 14)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobpulse.compile import compile_spec
from jobpulse.compile.slo_tests import input_series, slo_test_groups
from jobpulse.render.files import render_all
from jobpulse.spec.load import load_spec_text
from jobpulse.spec.model import Spec
from tests.helpers import MINIMAL_SPEC

AVAILABILITY = """
slos:
  - name: work-success
    objective: 99.9
    period: {period}
    sli:
      events:
        bad: 'jobs_done_total{{outcome="error"}}'
        total: jobs_done_total
{extra}"""

LATENCY = """
slos:
  - name: fast
    objective: 99
    sli:
      latency: {metric: job_seconds, threshold: 1}
"""


def _spec(text: str) -> Spec:
    return load_spec_text(MINIMAL_SPEC + text, "s.yaml")


def _run_promtool(promtool: str, tmp_path: Path, spec: Spec, tests: list[dict[str, Any]]) -> str:
    rules = render_all(compile_spec(spec))["prometheus/mini.rules.yml"]
    (tmp_path / "rules.yml").write_bytes(rules)
    body = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "t.yml").write_text(yaml.safe_dump(body, sort_keys=False))
    proc = subprocess.run(
        [promtool, "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def _steps(spacing: int, minutes: int, fail_at: int | None = None, *, bad: bool) -> str:
    """Counter samples every minute: one request every ``spacing`` minutes; the one at ``fail_at`` fails."""
    values = []
    count = 0
    for t in range(minutes + 1):
        if t % spacing == 0 and t > 0 and (not bad or t == fail_at):
            count += 1
        values.append(str(count))
    return " ".join(values)


@pytest.mark.parametrize("spacing", [5, 10, 20])
def test_one_failed_request_on_a_low_traffic_service_pages_nobody(spacing: int, tmp_path: Path, promtool: str) -> None:
    """Issue 14: at 1 request every 5/10/20 minutes a single 5xx paged (page_1h after 7m, page_6h after 20-35m)."""
    spec = _spec(AVAILABILITY.format(period="30d", extra=""))
    fail_at = 6 * 60  # after six hours of healthy traffic, so every window the tiers use is full
    horizon = fail_at + 7 * 60
    series = [
        {"series": 'jobs_done_total{outcome="ok", queue="default"}', "values": _steps(spacing, horizon, bad=False)},
        {
            "series": 'jobs_done_total{outcome="error", queue="default"}',
            "values": _steps(spacing, horizon, fail_at, bad=True),
        },
    ]
    # the "ok" series keeps counting the request that failed: subtract it so total counts it once
    ok = [int(v) - (1 if t >= fail_at else 0) for t, v in enumerate(series[0]["values"].split())]
    series[0]["values"] = " ".join(str(v) for v in ok)
    checks = [fail_at + m for m in (3, 7, 10, 20, 25, 35, 60, 90, 120, 240, 360, 400)]
    test = {
        "name": f"one failure at one request every {spacing}m",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": f"{m}m", "alertname": "WorkSuccessErrorBudgetBurn", "exp_alerts": []} for m in checks
        ],
    }
    assert _run_promtool(promtool, tmp_path, spec, [test]) == ""


def test_the_generated_tests_include_the_single_failure_cases() -> None:
    spec = _spec(AVAILABILITY.format(period="30d", extra=""))
    names = [g.name for g in slo_test_groups(spec, spec.slos[0])]
    for spacing in (5, 10, 20):
        assert any(f"one request every {spacing}m" in n and "pages nobody" in n for n in names), names


def test_every_page_tier_has_an_events_and_a_bad_events_guard() -> None:
    spec = _spec(AVAILABILITY.format(period="30d", extra=""))
    rules = yaml.safe_load(render_all(compile_spec(spec))["prometheus/mini.rules.yml"])
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WorkSuccessErrorBudgetBurn"]
    guards = {a["labels"]["tier"]: a["expr"] for a in alerts}
    assert 'slo:sli_events:increase6h{slo="work-success"} >= 10' in guards["page_6h"]
    assert 'slo:sli_bad_events:increase1h{slo="work-success"} >= 2' in guards["page_1h"]
    assert 'slo:sli_bad_events:increase6h{slo="work-success"} >= 4' in guards["page_6h"]
    assert 'slo:sli_bad_events:increase1d{slo="work-success"} >= 2' in guards["ticket_1d"]


def _latency_test(series: list[dict[str, str]], alerts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "name": "latency",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": "90m", "alertname": name, "exp_alerts": expected} for name, expected in alerts.items()
        ],
        "promql_expr_test": [],
    }


def test_a_target_spelling_le_without_decimals_gives_a_correct_latency_sli(tmp_path: Path, promtool: str) -> None:
    """Issue 14: threshold 1 selects le="1.0"; a Go target exposes le="1": every request read as bad."""
    spec = _spec(LATENCY)
    test = _latency_test(
        [
            {"series": 'job_seconds_count{outcome="ok"}', "values": "0+100x90"},
            {"series": 'job_seconds_bucket{outcome="ok", le="1"}', "values": "0+100x90"},
            {"series": 'job_seconds_bucket{outcome="ok", le="+Inf"}', "values": "0+100x90"},
        ],
        {"FastErrorBudgetBurn": [], "FastSLIUnmeasurable": []},
    )
    test["promql_expr_test"] = [
        {
            "expr": 'slo:sli_error:ratio_rate1h{slo="fast"}',
            "eval_time": "90m",
            "exp_samples": [{"labels": 'slo:sli_error:ratio_rate1h{slo="fast"}', "value": 0}],
        }
    ]
    assert _run_promtool(promtool, tmp_path, spec, [test]) == ""


def test_a_missing_bucket_is_unmeasurable_not_all_bad(tmp_path: Path, promtool: str) -> None:
    spec = _spec(LATENCY)
    rules = yaml.safe_load(render_all(compile_spec(spec))["prometheus/mini.rules.yml"])
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "FastSLIUnmeasurable")
    annotations = {k: v.replace("{{ $value }}", "6000") for k, v in rule["annotations"].items()}
    test = _latency_test(
        [
            {"series": 'job_seconds_count{outcome="ok"}', "values": "0+100x90"},
            {"series": 'job_seconds_bucket{outcome="ok", le="10"}', "values": "0+100x90"},
        ],
        {
            "FastErrorBudgetBurn": [],
            "FastSLIUnmeasurable": [
                {"exp_labels": {"severity": "ticket", "service": "mini", "slo": "fast"}, "exp_annotations": annotations}
            ],
        },
    )
    test["alert_rule_test"][1]["eval_time"] = "60m"
    assert _run_promtool(promtool, tmp_path, spec, [test]) == ""


def test_an_slo_selecting_a_target_label_without_group_by_gets_generated_tests() -> None:
    """Issue 14: `bad: x{job="api", ...}` with no group_by got no tests ("cannot vary ... group_by label")."""
    text = """
slos:
  - name: api
    objective: 99.9
    sli:
      events:
        bad: 'jobs_done_total{job="api", outcome="error"}'
        total: 'jobs_done_total{job="api"}'
"""
    spec = _spec(text)
    series = input_series(spec, spec.slos[0])
    assert all(s.labels.get("job") == "api" for s in series)
    assert len({s.text() for s in series}) == 2
    assert slo_test_groups(spec, spec.slos[0])


@pytest.mark.parametrize(
    ("period", "factors"),
    [
        ("7d", ["13.44", "3.5", "1.4", "0.98"]),  # Sloth's 7d alert windows: 8%, 12.5%, 20%, 42% of the budget
        ("1w", ["13.44", "3.5", "1.4", "0.98"]),
        ("30d", ["14.4", "6", "3", "1"]),
        ("28d", ["13.44", "5.6", "2.8", "0.933333333333"]),
    ],
)
def test_short_periods_get_windows_that_spend_their_budget(period: str, factors: list[str]) -> None:
    slo = _spec(AVAILABILITY.format(period=period, extra="")).slos[0]
    assert [str(t.factor) for t in slo.tiers] == factors


def test_a_tier_that_would_fire_on_a_harmless_burn_is_left_out_with_a_reason() -> None:
    slo = _spec(AVAILABILITY.format(period="14d", extra="")).slos[0]
    assert [t.name for t in slo.tiers] == ["page_1h", "page_6h", "ticket_1d"]
    assert any("ticket_3d" in u and "0.466666666667" in u and "unspent" in u for u in slo.unreachable_tiers)
    for tier in slo.tiers:
        assert tier.factor >= 1


@pytest.mark.parametrize(
    ("period", "expected"),
    [("30d", [2, 4, 2, 2]), ("28d", [3, 4, 2, 2]), ("7d", [3, 6, 2, 2]), ("90d", [2, 2, 2, 2])],
)
def test_min_bad_events_per_tier_match_the_documented_table(period: str, expected: list[int]) -> None:
    slo = _spec(AVAILABILITY.format(period=period, extra="")).slos[0]
    assert [t.min_bad_events for t in slo.tiers] == expected


def test_min_bad_events_can_be_set_for_every_tier() -> None:
    extra = "    alerts: {min_bad_events: 5}\n"
    slo = _spec(AVAILABILITY.format(period="30d", extra=extra)).slos[0]
    assert {t.min_bad_events for t in slo.tiers} == {5}
