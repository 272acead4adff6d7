"""What ``jobpulse demo`` shows comes from the example's own metrics: within a minute every number of the view is filled
and the summary counts the jobs the example ran. render_pipeline is the example whose jobs run in worker processes
and have no enqueued or completed counter; every example's numbers are also checked, from Prometheus and from the
app's metrics, by its end-to-end test (tests/examples/harness.py, Stack.view_is_filled)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobpulse.demo.stats import JobMetrics
from jobpulse.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "jobpulse"
STATUS = re.compile(r"jobs/min=(\S+) failure=(\S+)% p95=(\S+)ms queue=(\S+) ")


@pytest.mark.integration
@pytest.mark.parametrize("example", ["render_pipeline", "ai_shorts"])
def test_every_number_of_the_view_is_filled_within_a_minute(
    example: str, tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, redis_bin: str
) -> None:
    result = subprocess.run(
        [str(BIN), "demo", example, "--duration", "25", "--out", str(tmp_path / "build")],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = [m for m in (STATUS.search(line) for line in result.stdout.splitlines()) if m]
    assert lines, output
    last = lines[-1].groups()
    assert "…" not in last, f"{example}: the view still shows … after 25 s: {lines[-1].group()}"
    assert float(last[0]) > 0, lines[-1].group()  # jobs/min
    counts = JobMetrics.from_spec(load_spec(ROOT / "examples" / example / "jobpulse.yaml"))
    assert counts is not None
    created = re.search(rf"jobs {counts.counts}:\s+(\d+)", result.stdout)
    completed = re.search(r"jobs completed: (\d+)", result.stdout)
    assert created and int(created.group(1)) > 0, output
    assert completed and int(completed.group(1)) > 0, output
