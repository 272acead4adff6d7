"""The backtest's alert evaluation (query_range + its own ``for`` / ``keep_firing_for``) agrees with promtool.

The same scenario is recorded twice (the simulation is deterministic): once through ``jobpulse backtest``'s
pipeline, and once into a promtool unit test whose input series are the recorded samples and which asserts,
minute by minute, exactly the firing alerts the backtest reported. promtool evaluates with Prometheus's own
rule manager, so a difference in pending/firing/resolved handling fails the test.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jobpulse.compile import compile_spec
from jobpulse.render.files import dump_yaml, write_build
from jobpulse.spec.load import load_spec
from jobpulse.verify.backtest.evaluate import AlertRule, Firing, apply_for
from jobpulse.verify.backtest.run import EPOCH, run_backtest
from jobpulse.verify.backtest.scenarios import load_section, plan_backtest
from jobpulse.verify.backtest.simulate import Simulation

SPEC = """\
version: jobpulse/v1
service: {name: orders, scrape_interval: 1m, evaluation_interval: 1m}
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
alerts:
  - name: OrdersFailing
    expr: |
      sum(rate(orders_completed_total{outcome="error"}[5m])) / sum(rate(orders_completed_total[5m])) > 0.2
    for: 3m
    severity: page
    summary: Orders failing
    description: More than 20% of orders fail.
  - name: OrdersFailingSticky
    expr: |
      sum(rate(orders_completed_total{outcome="error"}[5m])) / sum(rate(orders_completed_total[5m])) > 0.2
    keep_firing_for: 4m
    severity: page
    summary: Orders failing (sticky)
    description: More than 20% of orders fail; keeps firing 4 minutes after it stops.
backtest:
  builtin: false
  baseline: {rate: 60, latency: {median: 5s}}
  scenarios:
    - name: two-spikes
      duration: 70m
      faults:
        - {start: 15m, duration: 12m, failure_ratio: 0.5}   # long enough to fire through `for`
        - {start: 40m, duration: 2m, failure_ratio: 0.9}    # a short second spike
"""


def _samples(spec_path: Path, tmp: Path) -> dict[str, list[float | None]]:
    """The scenario's recorded samples, series text → value per minute (None before the series exists)."""
    spec = load_spec(spec_path)
    section, positions = load_section(spec_path)
    scenario = plan_backtest(spec, section, positions).scenarios[0]
    texts: list[str] = []
    (tmp / "sim").mkdir()
    Simulation(spec, scenario, start=EPOCH, resolution=60, seed=section.seed, workdir=tmp / "sim").run(
        lambda path: texts.append(path.read_text())
    )
    minutes = int(scenario.duration // 60) + 1
    series: dict[str, list[float | None]] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, value, ts = line.rsplit(" ", 2)
            index = (int(ts) - EPOCH) // 60
            series.setdefault(name, [None] * minutes)[index] = float(value)
    return series


def _values(values: list[float | None]) -> str:
    return " ".join("_" if v is None else repr(v) for v in values)


def _firing_at(firings: list[dict[str, Any]], minute: int) -> bool:
    t = minute * 60
    return any(f["start_seconds"] <= t and (f["end_seconds"] is None or t < f["end_seconds"]) for f in firings)


@pytest.mark.integration
def test_for_and_keep_firing_for_match_promtool(tmp_path: Path, promtool: str, prometheus_bin: str) -> None:
    spec_path = tmp_path / "jobpulse.yaml"
    spec_path.write_text(SPEC)
    spec = load_spec(spec_path)
    section, positions = load_section(spec_path)
    result = run_backtest(plan_backtest(spec, section, positions), resolution=60)
    alerts = {a.rule.name: a for a in result.scenarios[0].alerts}
    failing, sticky = alerts["OrdersFailing"], alerts["OrdersFailingSticky"]
    # both fire and resolve; `for: 3m` delays one, `keep_firing_for: 4m` holds the other
    assert failing.firings and sticky.firings
    assert all(f.end is not None for f in failing.firings + sticky.firings)
    assert sticky.firings[0].start + 180 == failing.firings[0].start
    first_end = failing.firings[0].end
    assert first_end is not None and sticky.firings[0].end == first_end + 240

    build = compile_spec(spec)
    write_build(build, tmp_path / "build")
    rules = (tmp_path / "build" / build.rule_file).resolve()
    series = _samples(spec_path, tmp_path)
    minutes = len(next(iter(series.values())))
    checks = []
    for alert in spec.alerts:
        outcome = alerts[alert.name]
        firings = [{"start_seconds": f.start, "end_seconds": f.end} for f in outcome.firings]
        for minute in range(minutes):
            expected = []
            if _firing_at(firings, minute):
                expected = [
                    {
                        "exp_labels": {"severity": alert.severity},
                        "exp_annotations": {
                            "summary": alert.summary,
                            "description": alert.description,
                            "runbook_url": alert.runbook_url,
                        },
                    }
                ]
            checks.append({"eval_time": f"{minute}m", "alertname": alert.name, "exp_alerts": expected})
    test_file = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": name, "values": _values(v)} for name, v in sorted(series.items())],
                "alert_rule_test": checks,
            }
        ],
    }
    path = tmp_path / "agree.yml"
    path.write_text(dump_yaml(test_file))
    proc = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert len(checks) == 2 * minutes
    assert re.search(r"SUCCESS", proc.stdout)


# --- the state machine on its own ----------------------------------------------------------------------


def _rule(for_: float = 0.0, keep: float = 0.0) -> AlertRule:
    return AlertRule("g", 60.0, 0, "A", "x", for_, keep, ())


def _spans(result: Any) -> list[tuple[float, float | None]]:
    return [(f.start, f.end) for f in result.firings]


def test_apply_for_pending_then_firing_then_resolved() -> None:
    times = [float(t) for t in range(0, 600, 60)]
    present = {(): {120.0, 180.0, 240.0, 300.0}}
    assert _spans(apply_for(times, present, _rule(for_=120))) == [(240.0, 360.0)]
    assert _spans(apply_for(times, present, _rule())) == [(120.0, 360.0)]
    # a gap resets pending: never true for 3 minutes in a row
    assert _spans(apply_for(times, {(): {60.0, 120.0, 240.0, 300.0}}, _rule(for_=180))) == []


def test_apply_for_keep_firing_for_and_still_firing() -> None:
    times = [float(t) for t in range(0, 900, 60)]
    present = {(): {60.0, 120.0, 480.0}}
    # keeps firing 3 minutes after the last true evaluation; a true evaluation in between extends it
    assert _spans(apply_for(times, present, _rule(keep=180))) == [(60.0, 360.0), (480.0, 720.0)]
    assert _spans(apply_for(times, {(): {780.0, 840.0}}, _rule())) == [(780.0, None)]


def test_apply_for_merges_series_into_one_timeline() -> None:
    times = [float(t) for t in range(0, 600, 60)]
    present = {(("backend", "a"),): {60.0, 120.0}, (("backend", "b"),): {120.0, 180.0, 240.0}}
    result = apply_for(times, present, _rule())
    assert result.series == 2
    assert [(f.start, f.end) for f in result.firings] == [(60.0, 300.0)]
    assert isinstance(result.firings[0], Firing)
