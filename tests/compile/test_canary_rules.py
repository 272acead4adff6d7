"""Rollout rules, dashboard and promtool tests: golden files, and the generated tests pass (and can fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jobpulse.compile import compile_spec
from jobpulse.compile.canary_rules import min_events, window, z_threshold
from jobpulse.render.files import render_all
from jobpulse.spec.load import load_spec, load_spec_text

FIXTURE = Path(__file__).parents[1] / "fixtures" / "canary" / "rollout.yaml"
GOLDEN = Path(__file__).parents[1] / "golden" / "fixture_canary_rollout"
UPDATE = os.environ.get("JOBPULSE_UPDATE_GOLDEN") == "1"


def test_rollout_build_matches_golden_files() -> None:
    files = render_all(compile_spec(load_spec(FIXTURE)))
    if UPDATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, content in files.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(content)
    expected = {str(p.relative_to(GOLDEN)): p.read_bytes() for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected), "the set of generated files changed: run `make golden`"
    for rel, content in files.items():
        assert content == expected[rel], f"{rel} differs from {GOLDEN.name}/{rel}: run `make golden`"


def test_rules_per_metric_and_side_and_one_alert_per_metric() -> None:
    spec = load_spec(FIXTURE)
    rollout = spec.rollouts[0]
    rules = compile_spec(spec).get("prometheus/checkout.rules.yml").content
    (group,) = [g for g in rules["groups"] if g["name"] == "checkout.rollout-checkout-v2"]
    assert group["interval"] == "1m"
    values = [r for r in group["rules"] if r.get("record") == "rollout:value:10m"]
    assert {(r["labels"]["metric"], r["labels"]["side"]) for r in values} == {
        (m, s) for m in ("error-ratio", "p95-latency") for s in ("canary", "baseline")
    }
    alerts = [r for r in group["rules"] if "alert" in r]
    assert [a["alert"] for a in alerts] == ["CheckoutV2CanaryWorse"] * 2
    assert all(a["labels"] == {"severity": "warning", "critical": "true"} for a in alerts)
    assert window(rollout) == "10m"
    assert min_events(rollout) == 334  # 1000 events per 30m phase, scaled to the 10m window
    assert z_threshold(rollout) == pytest.approx(2.3263)
    dashboard = compile_spec(spec).get("grafana/checkout-rollout-checkout-v2.json").content
    titles = [p["title"] for p in dashboard["panels"]]
    assert "error-ratio (critical): verdict" in titles and "p95-latency: canary vs baseline" in titles


@pytest.mark.integration
def test_generated_promtool_tests_pass_and_would_catch_a_lenient_rule(tmp_path: Path, promtool: str) -> None:
    def run(spec_text: str, out: Path) -> subprocess.CompletedProcess[str]:
        spec = load_spec_text(spec_text, "rollout.yaml")
        result = compile_spec(spec)
        for rel, content in render_all(result).items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(content)
        return subprocess.run(
            [promtool, "test", "rules", "checkout.eval-1m.tests.yml"],
            cwd=out / "tests",
            capture_output=True,
            text=True,
            check=False,
        )

    text = FIXTURE.read_text()
    ok = run(text, tmp_path / "ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    tests = yaml.safe_load((tmp_path / "ok" / "tests" / "checkout.eval-1m.tests.yml").read_text())["tests"]
    assert len(tests) == 6 and sum(1 for t in tests if t["alert_rule_test"][0]["exp_alerts"]) == 2
    # the same tests against rules that allow any difference in error ratio: the "fires" case must fail
    run(text.replace("allowed_relative: 0.25", "allowed_relative: 1000"), tmp_path / "lenient")
    rules = tmp_path / "ok" / "prometheus" / "checkout.rules.yml"
    rules.write_bytes((tmp_path / "lenient" / "prometheus" / "checkout.rules.yml").read_bytes())
    lenient = subprocess.run(
        [promtool, "test", "rules", "checkout.eval-1m.tests.yml"],
        cwd=tmp_path / "ok" / "tests",
        capture_output=True,
        text=True,
        check=False,
    )
    assert lenient.returncode != 0
    assert "ten times the baseline" in lenient.stdout + lenient.stderr
    assert "slower tail" not in lenient.stdout + lenient.stderr  # the latency rule did not change
