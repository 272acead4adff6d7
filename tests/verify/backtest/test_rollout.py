"""Simulated rollouts through a real Prometheus: `jobpulse canary` says pass / fail / fail / inconclusive.

Each scenario is recorded by the spec's real job tracker (Poisson arrivals, independent failures and
latencies), imported with promtool and served by Prometheus on loopback; every phase is judged at its end, and
the command line is run against the same server for its exit codes and output formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.spec.load import load_spec
from jobpulse.verify.backtest.rollout import EPOCH, phase_bounds, rollout_scenarios, run_rollout_scenario
from jobpulse.verify.backtest.rollout_report import rollout_json, rollout_markdown, rollout_plot

FIXTURE = Path(__file__).parents[2] / "fixtures" / "canary" / "rollout.yaml"
SPEC = load_spec(FIXTURE)
ROLLOUT = SPEC.rollouts[0]
SCENARIOS = {s.name: s for s in rollout_scenarios(ROLLOUT)}
# the first phase, where every bad canary must already fail: (scenario, exit code of `jobpulse canary`)
FIRST_PHASE = {"good-canary": 0, "errors-3x": 1, "latency-p95-40pct": 1, "starved-canary": 3}

pytestmark = pytest.mark.integration


def canary_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["canary", str(FIXTURE), *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("name", list(FIRST_PHASE))
def test_rollout_verdicts_through_real_prometheus(
    name: str, tmp_path: Path, promtool: str, prometheus_bin: str
) -> None:
    scenario = SCENARIOS[name]
    seen: dict[str, tuple[int, str]] = {}
    first_end = EPOCH + phase_bounds(ROLLOUT)[0][1]
    second_end = EPOCH + phase_bounds(ROLLOUT)[1][1]

    def with_server(url: str, start: float) -> None:
        seen["json"] = canary_cli("--prometheus", url, "--phase", "canary", "--at", str(first_end), "--format", "json")
        # no --phase: the traffic split (25 % on the canary) picks the expansion phase
        seen["auto"] = canary_cli("--prometheus", url, "--at", str(second_end))
        seen["markdown"] = canary_cli(
            "--prometheus", url, "--phase", "canary", "--at", "2026-01-05T00:35:00Z", "--format", "markdown"
        )

    result = run_rollout_scenario(
        SPEC, ROLLOUT, scenario, workdir=tmp_path, promtool=promtool, prometheus=prometheus_bin, on_server=with_server
    )
    verdicts = [p.verdict.verdict for p in result.phases]
    assert result.ok, f"{name}: expected {scenario.expect}, got {verdicts}: " + "; ".join(
        f"{p.name}: {p.verdict.reason}" for p in result.phases
    )

    code, output = seen["json"]
    assert code == FIRST_PHASE[name], output
    report = json.loads(output)
    assert report["phase"] == "canary" and report["verdict"] == verdicts[0] and report["exit_code"] == code
    assert {m["name"] for m in report["metrics"]} == {"error-ratio", "p95-latency"}
    for metric in report["metrics"]:
        assert metric["canary"]["events"] > 0 and metric["baseline"]["events"] > 0
        assert metric["reason"]
    if name == "starved-canary":
        assert all("too little traffic" in m["reason"] for m in report["metrics"])
        assert all(m["test"] is None for m in report["metrics"])
    else:
        assert all(m["test"]["p_value"] is not None for m in report["metrics"])
    if name == "errors-3x":
        errors = next(m for m in report["metrics"] if m["name"] == "error-ratio")
        assert errors["verdict"] == "fail" and errors["relative_difference"] > 1.0

    code, output = seen["auto"]
    if name != "starved-canary":
        assert "phase expansion (weight 25%)" in output and "phase expansion chosen" in output, output
    assert output.strip().splitlines()[-1].startswith(f"verdict: {verdicts[1]}")

    code, output = seen["markdown"]
    assert code == FIRST_PHASE[name]
    assert f"phase `canary`: **{verdicts[0]}**" in output and "| error-ratio (critical) |" in output

    # the backtest report's part: verdicts per phase, a plot of both sides per metric
    png = rollout_plot(result)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    # one value per minute: the canary from its first phase on, the baseline until the full rollout takes it all
    if name != "starved-canary":
        assert all(len(result.series[m.name]["canary"]) == 90 for m in ROLLOUT.metrics)
        assert all(60 <= len(result.series[m.name]["baseline"]) <= 66 for m in ROLLOUT.metrics)
    lines = rollout_markdown([result], {f"checkout-v2/{name}": f"rollout-checkout-v2/{name}.png"})
    table_row = next(line for line in lines if line.startswith(f"| checkout-v2 | {name} |"))
    assert table_row == f"| checkout-v2 | {name} | " + " | ".join(verdicts) + " | ok |"
    assert f"![checkout-v2: {name}](rollout-checkout-v2/{name}.png)" in lines
    assert [p["verdict"] for p in rollout_json(result)["phases"]] == verdicts


def test_unreachable_prometheus_is_exit_2_never_a_pass() -> None:
    code, output = canary_cli("--prometheus", "http://127.0.0.1:9", "--phase", "canary", "--at", "1767571200")
    assert code == 2 and "cannot judge the canary" in output


def test_usage_errors_exit_2() -> None:
    assert canary_cli("--prometheus", "http://127.0.0.1:9", "--phase", "nope")[0] == 2
    assert canary_cli("--prometheus", "ftp://x", "--phase", "canary")[0] == 2
    assert canary_cli("--prometheus", "http://127.0.0.1:9", "--at", "yesterday")[0] == 2
