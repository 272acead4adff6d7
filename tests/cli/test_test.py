"""``jobpulse test``: a line per test as it ends (not all at the end), a progress bar on a terminal, the slowest
tests named with what makes them slow."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.compile import compile_spec
from jobpulse.spec.load import load_spec
from jobpulse.verify import promtool as promtool_runner

BIN = Path(sys.executable).parent / "jobpulse"
#: evaluation steps of the long test: 2-3 s of promtool, longer than the three short tests together
LONG = 20_000
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

SPEC = """\
version: jobpulse/v1
service: {name: shop}
metrics:
  - {name: shop_queue_depth, type: gauge, help: Jobs waiting.}
alerts:
  - name: QueueStuck
    expr: shop_queue_depth > 10
    for: 5m
    severity: warning
    summary: Jobs are stuck
    description: Queue depth is {{ $value }}.
tests:
  - name: a long quiet history
    interval: 1m
    input_series: [{series: shop_queue_depth, values: '1x%(long)d'}]
    alert_rule_test: [{eval_time: %(long)dm, alertname: QueueStuck, exp_alerts: []}]
  - name: a stuck queue warns
    interval: 1m
    input_series: [{series: shop_queue_depth, values: '20x10'}]
    alert_rule_test:
      - eval_time: 10m
        alertname: QueueStuck
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: Jobs are stuck
              description: Queue depth is 20.
              runbook_url: docs/alerts.md#queuestuck
  - name: a wrong expectation fails
    interval: 1m
    input_series: [{series: shop_queue_depth, values: '20x10'}]
    alert_rule_test: [{eval_time: 10m, alertname: QueueStuck, exp_alerts: []}]
  - name: a short quiet history
    interval: 1m
    input_series: [{series: shop_queue_depth, values: '1x10'}]
    alert_rule_test: [{eval_time: 10m, alertname: QueueStuck, exp_alerts: []}]
"""


def _spec(tmp_path: Path, long: int = 20) -> Path:
    path = tmp_path / "jobpulse.yaml"
    path.write_text(SPEC % {"long": long})
    return path


def test_each_test_reports_as_it_ends_and_the_slowest_are_named(tmp_path: Path, promtool: str) -> None:
    result = CliRunner().invoke(cli, ["test", str(_spec(tmp_path))])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "running 4 tests with promtool, 2 at a time" in lines
    for name in ("a long quiet history", "a stuck queue warns", "a short quiet history"):
        assert any(line.startswith(f"ok   {name} (") for line in lines), result.output
    failing = lines.index(next(line for line in lines if line.startswith("FAIL a wrong expectation fails")))
    explanation = lines[failing + 1 : failing + 9]  # promtool's, indented under it
    assert all(line.startswith("       ") for line in explanation)
    assert any("QueueStuck" in line for line in explanation), result.output
    assert any(line.startswith("3 passed, 1 failed in ") for line in lines)
    slowest = lines[lines.index("slowest:") + 1 :]
    assert len(slowest) == 4 and all("evaluation steps)" in line for line in slowest)
    assert any("a long quiet history (21 evaluation steps)" in line for line in slowest)
    assert any("a stuck queue warns (11 evaluation steps)" in line for line in slowest)


def test_results_are_reported_while_others_still_run(tmp_path: Path, promtool: str) -> None:
    """The first version printed nothing until every test had ended (minutes for the platform example)."""
    spec = _spec(tmp_path, long=LONG)
    events: list[tuple[str, str, float]] = []
    results = promtool_runner.run_tests(
        compile_spec(load_spec(spec)),
        promtool=promtool,
        on_start=lambda name: events.append(("start", name, time.monotonic())),
        on_result=lambda r: events.append(("end", r.name, time.monotonic())),
    )
    assert [r.name for r in results] == [
        "a long quiet history",
        "a stuck queue warns",
        "a wrong expectation fails",
        "a short quiet history",
    ]
    assert all(isinstance(r, promtool_runner.TestResult) for r in results)
    ends = [name for kind, name, _ in events if kind == "end"]
    # the three short tests end (and are reported) before the long one that started first
    assert ends[-1] == "a long quiet history", events
    for name in ends:
        kinds = [kind for kind, n, _ in events if n == name]
        assert kinds == ["start", "end"]


def test_a_terminal_gets_a_progress_bar_and_lines_stream(tmp_path: Path, promtool: str) -> None:
    spec = _spec(tmp_path, long=LONG)
    env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "160"}
    seen: list[str] = []
    with (
        subprocess.Popen(
            [str(BIN), "test", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
        ) as process,
        selectors.DefaultSelector() as selector,
    ):
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not selector.select(timeout=1):
                continue
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
        assert process.wait(30) == 1, "".join(seen)
    output = "".join(seen)
    plain = [ANSI.sub("", line).split("\r")[-1] for line in seen]
    ends = [line.split(" (")[0] for line in plain if line.startswith(("ok   ", "FAIL "))]
    # lines come as tests end: the short ones before the long one that started first (not in the spec's order
    # once everything has ended, as the first version did)
    assert ends[-1] == "ok   a long quiet history", output
    assert "a long quiet history (" in output  # named as running on the progress bar
    assert "/4" in output  # n/4 done
