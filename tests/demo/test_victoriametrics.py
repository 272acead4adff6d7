"""``jobpulse demo --tsdb victoria-metrics``: VictoriaMetrics, vmagent and vmalert instead of Prometheus.

vmagent scrapes the example, vmalert evaluates the build's rules against VictoriaMetrics into the same
Alertmanager, the live view reads both; every process is gone afterwards.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_binary

ROOT = Path(__file__).resolve().parents[2]
JOBPULSE = str(Path(sys.executable).parent / "jobpulse")


def _live(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    for name in ("victoria-metrics", "vmagent", "vmalert", "alertmanager"):
        need_binary(name)


def test_demo_on_victoria_metrics(tmp_path: Path) -> None:
    out = tmp_path / "build"
    result = subprocess.run(
        [JOBPULSE, "demo", "--tsdb", "victoria-metrics", "--scenario", "stall", "--duration", "25", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    urls = re.search(r"VictoriaMetrics: (http://127\.0\.0\.1:\d+)\s+\(vmalert: (http://127\.0\.0\.1:\d+)\)", output)
    alertmanager = re.search(r"Alertmanager:\s+(http://127\.0\.0\.1:\d+)", output)
    assert urls and alertmanager, output
    assert "Prometheus:" not in output
    # stalled workers: vmalert, reading VictoriaMetrics, has the queue alert pending
    assert "pending=PreviewQueueStalled" in result.stdout, output
    assert re.search(r"still queued:\s+([1-9]\d+)", result.stdout), output
    assert (out / ".demo" / "vmalert" / "vmalert.log").is_file()
    assert _live(str(out / ".demo")) == []
    for url in (urls.group(1), urls.group(2), alertmanager.group(1)):
        assert _refused(url), url
