"""``jobpulse demo`` on the command line: --help lists every example's scenarios, an unknown scenario is a usage
error, --speed compresses the rules, and a scenario that takes the service down stops and restarts the app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.demo.monitoring import demo_rule_file
from jobpulse.demo.scenarios import load_scenarios
from jobpulse.verify.timescale import SpeedClock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "jobpulse"


def test_help_lists_every_examples_scenarios_with_the_alerts_they_fire(monkeypatch: object) -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for example in ("preview_jobs", "ai_shorts", "render_pipeline", "platform", "prompt_rollout"):
        section = result.output.split(f"\n{example}:\n", 1)
        assert len(section) == 2, f"{example} missing from --help"
        body = section[1].split("\n\n", 1)[0]
        # one entry per scenario: its line and the wrapped lines under it, whitespace normalized
        entries: dict[str, str] = {}
        for line in body.splitlines():
            if line.startswith("  ") and not line.startswith("   "):
                name = line.split()[0]
                entries[name] = line
            else:
                entries[name] += " " + line
        entries = {name: " ".join(text.split()) for name, text in entries.items()}
        for scenario in load_scenarios(ROOT / "examples" / example).values():
            assert scenario.name in entries, f"{example}: {scenario.name} not listed"
            if scenario.rollout is not None:
                assert entries[scenario.name].endswith(f"-> verdict {scenario.rollout}")
                continue
            expected = "-> " + (", ".join(scenario.fires) if scenario.fires else "nothing")
            assert entries[scenario.name].endswith(expected), (example, scenario.name, entries[scenario.name])


def test_an_unknown_scenario_is_a_usage_error_naming_the_examples_scenarios(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "ai_shorts", "--scenario", "meltdown", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "ai_shorts has no scenario 'meltdown'" in result.output
    assert "llm-errors" in result.output and "service-down" in result.output


def test_speed_divides_every_duration_of_the_demos_rules(tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text(
        "groups:\n  - name: g\n    interval: 1m\n    rules:\n"
        "      - {alert: A, expr: 'rate(x[10m]) > 1 and time() - y > 300', for: 15m}\n"
    )
    clock = SpeedClock(60, origin=1000.0)
    out = yaml.safe_load(demo_rule_file(rules, tmp_path / "w", "500ms", clock).read_text())
    [rule] = out["groups"][0]["rules"]
    assert out["groups"][0]["interval"] == "500ms"
    assert rule["for"] == "15000ms"
    assert rule["expr"] == "rate(x[10000ms]) > 1 and (1000.0 + (time() - 1000.0) * 60.0) - y > 300"
    plain = yaml.safe_load(demo_rule_file(rules, tmp_path / "p", "5s").read_text())
    assert plain["groups"][0]["rules"][0]["for"] == "15m"


def test_service_down_stops_and_restarts_the_demos_app(tmp_path: Path) -> None:
    """--speed 180: the 3-minute outage takes one second, ten seconds into the run."""
    out = tmp_path / "build"
    result = subprocess.run(
        [str(BIN), "demo", "ai_shorts", "--scenario", "service-down", "--speed", "180", "--duration", "14",
         "--no-prometheus", "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    app = re.search(r"app:\s+(http://127\.0\.0\.1:\d+)", result.stdout)
    assert app, output
    stopped = result.stdout.index("scenario: stopping the app for 1s")
    back = result.stdout.index(f"scenario: the app is back at {app.group(1)}")
    assert stopped < back
    assert "stopped unexpectedly" not in output
    # the workload saw the outage (refused connections), and the app served again afterwards
    workload = re.search(r"workload:\s+(.*)", result.stdout)
    assert workload and re.search(r"errors [1-9]", workload.group(1)), output
