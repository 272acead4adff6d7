"""``jobpulse backtest``: real tracker, real promtool and Prometheus; alerts judged against expectations.

Scenarios are shortened here (hours, or ``--days 1.5`` at a one-minute resolution) to keep the suite fast;
``make backtest`` runs the preview example at full length.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.spec.load import load_spec

PREVIEW = Path(__file__).resolve().parents[3] / "examples" / "preview_jobs" / "jobpulse.yaml"

# A 99.9% / 30d events SLO on a job lifecycle; 600 jobs a minute so every minute has enough events.
ORDERS = """\
version: jobpulse/v1
service: {name: orders, scrape_interval: 15s, evaluation_interval: 1m}
metrics:
  - name: orders_total
    type: counter
    help: Orders enqueued.
  - name: orders_completed_total
    type: counter
    help: Orders that finished, by outcome.
    labels: {outcome: {values: [ok, error]}}
jobs:
  - name: order
    outcomes: {success: ok, failure: error}
    metrics: {enqueued: orders_total, completed: orders_completed_total}
slos:
  - name: orders
    objective: 99.9
    period: 30d
    sli:
      events:
        bad: 'orders_completed_total{outcome="error"}'
        total: orders_completed_total
"""


def write_spec(tmp_path: Path, text: str, name: str = "jobpulse.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["backtest", *args], catch_exceptions=False)


def alerts_by_ref(scenario: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["ref"]: a for a in scenario["alerts"]}


# --- the preview example ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preview_report(tmp_path_factory: pytest.TempPathFactory, promtool: str, prometheus_bin: str) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("preview") / "backtest"
    result = run(str(PREVIEW), "--days", "1.5", "--resolution", "1m", "-o", str(out))
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    report["_dir"] = str(out)
    return report


@pytest.mark.integration
def test_preview_healthy_week_fires_nothing(preview_report: dict[str, Any]) -> None:
    healthy = next(s for s in preview_report["scenarios"] if s["name"] == "healthy-week")
    assert healthy["jobs"] > 10 * 60 * 24  # a day and a half at 10 jobs a minute
    assert [a["ref"] for a in healthy["alerts"] if a["fired"]] == []
    assert healthy["ok"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("scenario", "alert"),
    [
        ("failure-spike", "PreviewGenerationHighFailureRate"),
        ("failure-spike", 'PreviewSuccessErrorBudgetBurn{tier="page_1h"}'),
        ("latency-regression", "PreviewGenerationSlow"),
        ("stalled-queue", "PreviewQueueStalled"),
        ("renderer-outage", 'PreviewSuccessErrorBudgetBurn{tier="page_1h"}'),
        ("metrics-gone", "PreviewSuccessSLIAbsent"),
    ],
)
def test_preview_fault_is_detected_by_its_alert(preview_report: dict[str, Any], scenario: str, alert: str) -> None:
    found = next(s for s in preview_report["scenarios"] if s["name"] == scenario)
    outcome = alerts_by_ref(found)[alert]
    assert outcome["expected"] == "fire"
    assert outcome["fired"], outcome
    assert outcome["false_firings"] == 0
    # detected after the fault began, within a few hours
    assert 0 <= outcome["detect_seconds"] <= 6 * 3600
    assert found["ok"], found["problems"]


@pytest.mark.integration
def test_preview_traffic_drop_pages_nobody(preview_report: dict[str, Any]) -> None:
    drop = next(s for s in preview_report["scenarios"] if s["name"] == "traffic-drop")
    assert drop["faults"][0]["rate_per_minute"] == 0
    assert [a["ref"] for a in drop["alerts"] if a["fired"]] == []


@pytest.mark.integration
def test_preview_report_files(preview_report: dict[str, Any]) -> None:
    out = Path(preview_report["_dir"])
    markdown = (out / "report.md").read_text()
    assert "Result: **passed**" in markdown
    for scenario in preview_report["scenarios"]:
        name = scenario["name"]
        assert f"## {name}" in markdown
        for png in ("timeline.png", "slo-preview-success.png", "slo-preview-latency.png"):
            data = (out / name / png).read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
            assert f"]({name}/{png})" in markdown
    assert preview_report["ok"] is True
    assert preview_report["resolution_seconds"] == 60


# --- workbook timing, missing alerts, false firings ---------------------------------------------------

BURN = 14.4 * 1.1  # just above the page_1h tier's factor


@pytest.fixture(scope="module")
def orders_run(tmp_path_factory: pytest.TempPathFactory, promtool: str, prometheus_bin: str) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("orders")
    spec = write_spec(
        tmp,
        ORDERS
        + f"""\
backtest:
  builtin: false
  baseline: {{rate: 600, latency: {{median: 1s}}}}
  scenarios:
    - name: burn
      description: A constant burn of {BURN:g}x the budget, after an hour of clean traffic.
      # 6h: ticket_1d also waits for twice its 2h short window of data, then its 1h `for`
      duration: 6h
      faults:
        - {{start: 1h, duration: 5h, failure_ratio: {BURN * 0.001!r}}}
      expect:
        fire: ['OrdersErrorBudgetBurn{{tier="page_1h"}}']
    - name: gentle
      description: Half the budget's burn rate cannot page; the expectation below is wrong on purpose.
      duration: 2h
      faults:
        - {{start: 1h, duration: 1h, failure_ratio: 0.0005}}
      expect:
        fire: ['OrdersErrorBudgetBurn{{tier="page_1h"}}']
""",
    )
    out = tmp / "report"
    result = run(str(spec), "-o", str(out))
    report = json.loads((out / "report.json").read_text())
    return {"exit_code": result.exit_code, "output": result.output, "report": report, "out": out}


@pytest.mark.integration
def test_tiers_fire_at_the_workbook_minute(orders_run: dict[str, Any]) -> None:
    burn = next(s for s in orders_run["report"]["scenarios"] if s["name"] == "burn")
    fault_start = burn["faults"][0]["start_seconds"]
    checked = []
    for alert in burn["alerts"]:
        workbook = alert["workbook"]
        assert workbook is not None, alert["ref"]
        assert workbook["burn_rate"] == pytest.approx(BURN)
        predicted = workbook["detect_seconds"]
        if predicted is None or fault_start + predicted > burn["duration_seconds"]:
            assert not alert["fired"], alert
            continue
        # The workbook counts whole minutes of burn (rounded up); Prometheus evaluates every minute at the rule
        # group's phase, so the alert fires within one evaluation interval of the predicted minute.
        assert alert["fired"], alert
        assert abs(alert["detect_seconds"] - predicted) <= 60, (alert["ref"], alert["detect_seconds"], predicted)
        checked.append(alert["labels"]["tier"])
    assert {"page_1h", "page_6h", "ticket_1d"} <= set(checked)
    page = alerts_by_ref(burn)['OrdersErrorBudgetBurn{tier="page_1h"}']
    # 1h window: 55 minutes of burn at 15.84x exceed 14.4x, then `for: 2m`
    assert page["workbook"]["detect_seconds"] == 57 * 60
    assert burn["ok"]


@pytest.mark.integration
def test_missing_expected_alert_exits_1(orders_run: dict[str, Any]) -> None:
    assert orders_run["exit_code"] == 1, orders_run["output"]
    gentle = next(s for s in orders_run["report"]["scenarios"] if s["name"] == "gentle")
    assert not gentle["ok"]
    page = alerts_by_ref(gentle)['OrdersErrorBudgetBurn{tier="page_1h"}']
    assert page["fired"] is False
    assert page["problems"] == ["expected to fire during the fault, did not"]
    assert page["workbook"]["detect_seconds"] is None
    assert "FAIL gentle" in orders_run["output"]
    assert "**FAILED**" in (orders_run["out"] / "report.md").read_text()


@pytest.mark.integration
def test_alert_firing_on_healthy_traffic_exits_1(tmp_path: Path, promtool: str, prometheus_bin: str) -> None:
    spec = write_spec(
        tmp_path,
        ORDERS
        + """\
alerts:
  - name: OrdersFlowing
    expr: sum(rate(orders_total[5m])) > 0
    for: 5m
    severity: info
    summary: Orders are flowing (fires on healthy traffic)
    description: A badly written alert.
backtest:
  builtin: false
  baseline: {rate: 60, latency: {median: 1s}}
  scenarios:
    - {name: quiet-hour, duration: 1h}
""",
    )
    result = run(str(spec), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    flowing = alerts_by_ref(report["scenarios"][0])["OrdersFlowing"]
    assert flowing["false_firings"] == 1
    # rate over 5m needs two samples, then `for: 5m`
    assert 5 * 60 <= flowing["firings"][0]["start_seconds"] <= 7 * 60
    assert flowing["problems"] == ["fired 1 time(s) on healthy traffic"]
    assert not alerts_by_ref(report["scenarios"][0])['OrdersErrorBudgetBurn{tier="page_1h"}']["fired"]

    # an alert on something the simulation does not drive can be left out of the verdict (still reported)
    spec.write_text(spec.read_text().replace("  builtin: false\n", "  builtin: false\n  ignore: [OrdersFlowing]\n"))
    result = run(str(spec), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    flowing = alerts_by_ref(report["scenarios"][0])["OrdersFlowing"]
    assert flowing["fired"] and flowing["expected"] == "ignored" and flowing["problems"] == []


# --- usage and spec errors (no servers needed) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("backtest: {baseline: {job: nope}}", "unknown job 'nope'"),
        ("backtest: {baseline: {attributes: {colour: red}}}", "has no attribute 'colour'"),
        ("backtest: {expect: {failure-spike: {fire: [NoSuchAlert]}}}", "no alerting rule matches 'NoSuchAlert'"),
        ("backtest: {expect: {not-builtin: {fire: []}}}", "is not a built-in scenario"),
        ("backtest: {ignore: ['OrdersErrorBudgetBurn{tier=\"page_2h\"}']}", "no alerting rule matches"),
        ("backtest: {ignore: ['not an alert']}", "expected an alert name"),
        (
            "backtest:\n  scenarios:\n    - {name: x, duration: 1h, faults: [{start: 2h, duration: 1h, stall: true}]}",
            "after the scenario's end",
        ),
        ("backtest:\n  scenarios:\n    - {name: x, faults: [{start: 1h, duration: 1h}]}", "a fault needs at least"),
        ("backtest: {baseline: {failure_ratio: 1.5}}", "less than or equal to 1"),
    ],
)
def test_spec_errors_exit_2(tmp_path: Path, section: str, message: str) -> None:
    spec = write_spec(tmp_path, ORDERS + section + "\n")
    result = run(str(spec), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert f"{spec}:" in result.output  # located: file:line:column or file
    assert not (tmp_path / "out").exists()


def test_unknown_scenario_and_bad_resolution_exit_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, ORDERS)
    result = run(str(spec), "--scenario", "nope")
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "healthy-week" in result.output
    result = run(str(spec), "--resolution", "10m")
    assert result.exit_code == 2
    assert "--resolution" in result.output
    result = run(str(spec), "--days", "1", "--scenario", "failure-spike")
    assert result.exit_code == 2
    assert "--days 1 is too short for the built-in scenario failure-spike" in result.output


def test_a_spec_without_jobs_cannot_be_backtested(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        """\
        version: jobpulse/v1
        service: {name: bare}
        metrics:
          - {name: things_total, type: counter, help: Things.}
        """,
    )
    result = run(str(spec))
    assert result.exit_code == 2
    assert "needs a job lifecycle" in result.output


def test_builtin_scenarios_map_onto_any_job(tmp_path: Path) -> None:
    from jobpulse.verify.backtest.scenarios import load_section, plan_backtest

    spec_path = write_spec(tmp_path, ORDERS)
    section, positions = load_section(spec_path)
    plan = plan_backtest(load_spec(spec_path), section, positions)
    names = [s.name for s in plan.scenarios]
    assert names == ["healthy-week", "failure-spike", "latency-regression", "stalled-queue", "traffic-drop"]
    healthy, spike, slow, stall, drop = plan.scenarios
    assert healthy.duration == 7 * 86400 and not healthy.faults
    assert spike.job == "order" and spike.faults[0].failure_ratio == 0.5
    assert slow.faults[0].latency is not None and slow.faults[0].latency.median == 10 * slow.latency.median
    assert stall.faults[0].stall
    assert drop.faults[0].rate == 0
    assert plan_backtest(load_spec(spec_path), section, positions, days=2).scenarios[0].duration == 2 * 86400


def test_committed_preview_report_matches_the_spec() -> None:
    """examples/preview_jobs/backtest is regenerated by `make backtest` whenever the backtest section changes."""
    from jobpulse.verify.backtest.scenarios import load_section, plan_backtest

    report = json.loads((PREVIEW.parent / "backtest" / "report.json").read_text())
    section, positions = load_section(PREVIEW)
    plan = plan_backtest(load_spec(PREVIEW), section, positions)
    assert report["ok"] is True
    assert report["resolution_seconds"] == 15  # the spec's scrape interval: the full-length run
    assert [s["name"] for s in report["scenarios"]] == [s.name for s in plan.scenarios]
    for scenario, planned in zip(report["scenarios"], plan.scenarios, strict=True):
        assert scenario["duration_seconds"] == planned.duration
        assert scenario["expect"]["fire"] == [r.text for r in planned.fire], "run `make backtest`"
        assert scenario["expect"]["silent"] == [r.text for r in planned.silent], "run `make backtest`"
        assert scenario["ok"], scenario["problems"]
        for ref in planned.fire:  # each expected alert (any of its rules, for a name without labels) detected
            matching = [a for a in scenario["alerts"] if ref.matches(a["alert"], a["labels"])]
            assert any(a["detect_seconds"] is not None for a in matching), ref.text
    markdown = (PREVIEW.parent / "backtest" / "report.md").read_text()
    for png in sorted((PREVIEW.parent / "backtest").rglob("*.png")):
        assert f"]({png.parent.name}/{png.name})" in markdown


def test_a_directory_jobpulse_did_not_write_is_refused_before_the_run(tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep me")
    result = run(str(PREVIEW), "--scenario", "healthy-week", "--days", "1", "-o", str(precious))
    assert result.exit_code == 2
    assert "was not written by jobpulse" in result.output
    assert (precious / "todo.txt").read_text() == "keep me"
