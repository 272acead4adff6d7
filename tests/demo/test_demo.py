"""``jobpulse demo``: end to end as a subprocess, plus the pieces it computes its view from."""

from __future__ import annotations

import math
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from jobpulse import Telemetry
from jobpulse.demo import monitoring as demo_monitoring
from jobpulse.demo.example import ExampleError, find_example, repo_examples_dir
from jobpulse.demo.stats import JobMetrics, RegistryWindow, histogram_quantile, merge
from jobpulse.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
JOBPULSE = str(Path(sys.executable).parent / "jobpulse")
PREVIEW = ROOT / "examples" / "preview_jobs"
BUILD_FILES = (
    "prometheus/preview-jobs.rules.yml",
    "grafana/phase2b-preview-dashboard.json",
    "docs/metrics.md",
    "docs/alerts.md",
    "tests/preview-jobs.tests.yml",
)


def demo(*args: str, cwd: Path, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JOBPULSE, "demo", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains ``text`` (e.g. a demo's work directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def completed(output: str) -> tuple[int, int, int]:
    match = re.search(r"jobs completed: (\d+) \(ready (\d+), failed (\d+)\)", output)
    assert match, output
    total, ready, failed = (int(g) for g in match.groups())
    return total, ready, failed


# -- the command ------------------------------------------------------------------------------------
def test_demo_without_prometheus(tmp_path: Path) -> None:
    out = tmp_path / "build"
    # run from a directory without ./examples: the example is found in the repository
    result = demo("--duration", "8", "--no-prometheus", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for rel in BUILD_FILES:
        assert (out / rel).is_file(), rel
    total, ready, failed = completed(result.stdout)
    assert total > 10 and ready > 0 and total == ready + failed
    assert "skipped (--no-prometheus)" in result.stdout
    assert re.search(r"app:\s+http://127\.0\.0\.1:\d+", result.stdout)
    # not a terminal: plain status lines with the four numbers
    status = [line for line in result.stdout.splitlines() if re.match(r"\[\d+s / 8s\] jobs/min=", line)]
    assert len(status) >= 2, result.stdout
    assert re.search(r"jobs/min=\d+\.\d failure=\d+\.\d% p95=\d+ms queue=\d+", status[-1])
    # the run's data: job-id'd log lines and preview files
    log = (out / ".demo" / "app.log").read_text()
    assert re.search(r"job_id=[0-9a-f]{32} preview ready", log)
    assert len(list((out / ".demo" / "static" / "dev-previews").glob("*.svg"))) == ready


def test_demo_with_prometheus(tmp_path: Path, prometheus_bin: str, alertmanager_bin: str) -> None:
    out = tmp_path / "build"
    result = demo("--duration", "20", "--scenario", "stall", "--out", str(out), cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    prometheus = re.search(r"Prometheus:\s+(http://127\.0\.0\.1:\d+)", result.stdout)
    alertmanager = re.search(r"Alertmanager:\s+(http://127\.0\.0\.1:\d+)", result.stdout)
    app = re.search(r"app:\s+(http://127\.0\.0\.1:\d+)", result.stdout)
    assert prometheus and alertmanager and app, output
    # stalled workers: the queue grew, nothing completed, and Prometheus saw the queue alert pending
    assert completed(result.stdout)[0] == 0
    assert re.search(r"still queued:\s+([1-9]\d+)", result.stdout), output
    assert "pending=PreviewQueueStalled" in result.stdout, output
    # everything is stopped: no child left, no port still open
    assert processes_mentioning(str(out / ".demo")) == []
    for url in (prometheus.group(1), alertmanager.group(1), app.group(1)):
        assert refused(url), url
    assert (out / ".demo" / "prometheus" / "prometheus.log").is_file()
    rules = (out / ".demo" / "rules" / "preview-jobs.rules.yml").read_text()
    assert "interval: 5s" in rules


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_everything_on_a_signal(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, sig: signal.Signals
) -> None:
    out = tmp_path / "build"
    process = subprocess.Popen(
        [JOBPULSE, "demo", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while not any(line.startswith("running until Ctrl-C") for line in lines):
                assert time.monotonic() < deadline, "".join(lines)
                if selector.select(timeout=1):
                    line = process.stdout.readline()
                    assert line, "demo exited early:\n" + "".join(lines)
                    lines.append(line)
        assert processes_mentioning(str(out / ".demo")), "Prometheus/Alertmanager should be running"
        time.sleep(2)
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "Summary: preview_jobs" in output
    assert processes_mentioning(str(out / ".demo")) == []


def test_unknown_example_exits_2(tmp_path: Path) -> None:
    result = demo("no_such_example", "--duration", "1", "--no-prometheus", cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "example 'no_such_example' not found" in result.stderr
    assert str(repo_examples_dir() / "no_such_example") in result.stderr


def test_example_dir_without_app_exits_2(tmp_path: Path) -> None:
    example = tmp_path / "half"
    example.mkdir()
    (example / "jobpulse.yaml").write_text((PREVIEW / "jobpulse.yaml").read_text())
    result = demo(str(example), "--duration", "1", "--no-prometheus", cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "missing app.py" in result.stderr


def test_out_dir_with_other_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = demo("--duration", "1", "--no-prometheus", "--out", str(out), cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "was not written by jobpulse" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = demo(
            "--port", str(port), "--duration", "1", "--no-prometheus", "--out", str(tmp_path / "b"), cwd=tmp_path
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot serve the app on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# -- the pieces -------------------------------------------------------------------------------------
def test_find_example_prefers_the_current_directory(tmp_path: Path) -> None:
    local = tmp_path / "examples" / "preview_jobs"
    local.mkdir(parents=True)
    for name in ("jobpulse.yaml", "app.py"):
        (local / name).write_text((PREVIEW / name).read_text())
    assert find_example("preview_jobs", cwd=tmp_path) == local.resolve()
    assert find_example("preview_jobs", cwd=tmp_path / "elsewhere") == PREVIEW.resolve()
    assert find_example(PREVIEW) == PREVIEW.resolve()
    with pytest.raises(ExampleError, match="no such directory"):
        find_example("nope", cwd=tmp_path)


def test_queries_are_the_seeds_promql() -> None:
    spec = load_spec(PREVIEW / "jobpulse.yaml")
    metrics = JobMetrics.from_spec(spec)
    assert metrics is not None
    queries = metrics.queries()

    def squash(text: str) -> str:
        return re.sub(r"\s+", "", text)

    panels = {p.title: squash(p.targets[0].expr) for p in spec.dashboards[0].panels}
    # the seed's outcomes query needs ignoring(outcome) group_left to match anything (see test_e2e_prometheus)
    assert squash(queries["failure_pct"]) == panels["Job outcomes (%)"].replace(
        "/sum", "/ignoring(outcome)group_leftsum"
    )
    assert squash(queries["p95_ms"]) == panels["Job duration (p95 ms)"]
    assert squash(queries["queue_depth"]) == f"sum({panels['Preview queue depth']})"
    assert "rate(preview_generation_jobs_total[1m])" in queries["jobs_per_min"]


def test_histogram_quantile_matches_prometheus() -> None:
    inf = math.inf
    assert histogram_quantile(0.95, ()) is None
    assert histogram_quantile(0.95, ((100.0, 0.0), (inf, 0.0))) is None
    # 10 observations all in (100, 250]: p50 interpolates to 175
    assert histogram_quantile(0.5, ((100.0, 0.0), (250.0, 10.0), (inf, 10.0))) == pytest.approx(175.0)
    # first bucket starts at 0
    assert histogram_quantile(0.5, ((100.0, 10.0), (inf, 10.0))) == pytest.approx(50.0)
    # the rank falls in +Inf: the highest finite bound
    assert histogram_quantile(0.99, ((100.0, 5.0), (250.0, 9.0), (inf, 10.0))) == 250.0


def test_registry_window_over_the_app_metrics() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(PREVIEW / "jobpulse.yaml", registry=registry)
    metrics = JobMetrics.from_spec(telemetry.spec)
    assert metrics is not None
    now = [0.0]
    window = RegistryWindow(registry, metrics, clock=lambda: now[0])
    window.sample()
    tracker = telemetry.job("preview", clock=lambda: now[0])
    for n in range(20):
        job = tracker.enqueue(scenario="blog-post", backend="worker")
        job.start()
        now[0] += 0.2  # 200 ms each
        if n % 4 == 0:
            job.fail()
        else:
            job.succeed()
    tracker.enqueue(scenario="blog-post", backend="worker")  # one left waiting
    snap = window.snapshot()
    assert snap.jobs_per_min == pytest.approx(21 / 4.0 * 60)  # 21 enqueued in 4 s
    assert snap.failure_pct == pytest.approx(25.0)
    assert snap.p95_ms is not None and 100 < snap.p95_ms <= 250
    assert snap.queue_depth == 1
    assert snap.alerts is None and snap.sources["p95_ms"] == "app"
    merged = merge(type(snap)(queue_depth=3.0, alerts=[], sources={"queue_depth": "prometheus"}), snap)
    assert merged.queue_depth == 3.0 and merged.sources["queue_depth"] == "prometheus"
    assert merged.failure_pct == pytest.approx(25.0) and merged.sources["failure_pct"] == "app"


def _rule_file(tmp_path: Path) -> Path:
    rules = tmp_path / "in.rules.yml"
    rules.write_text("groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: A\n        expr: vector(1)\n")
    return rules


def test_missing_prometheus_is_skipped_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_monitoring, "find_binary", lambda name: None)
    started = demo_monitoring.start_monitoring(
        rule_file=_rule_file(tmp_path), job_name="x", target="127.0.0.1:1", workdir=tmp_path / "w"
    )
    assert started.prometheus is None and started.alertmanager is None
    assert len(started.notes) == 1
    assert "apt-get install prometheus" in started.notes[0]


def test_missing_alertmanager_still_starts_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prometheus_bin: str
) -> None:
    real = demo_monitoring.find_binary
    monkeypatch.setattr(demo_monitoring, "find_binary", lambda name: None if name == "alertmanager" else real(name))
    started = demo_monitoring.start_monitoring(
        rule_file=_rule_file(tmp_path), job_name="x", target="127.0.0.1:1", workdir=tmp_path / "w"
    )
    try:
        assert started.prometheus is not None and started.alertmanager is None
        assert "apt-get install prometheus-alertmanager" in started.notes[0]
        groups = started.prometheus.rules()
        assert [g["interval"] for g in groups] == [5.0]  # the demo evaluates every 5 s
    finally:
        started.stop()
    assert started.pids == []


def test_p95_is_shown_in_milliseconds_whatever_the_histogram_unit() -> None:
    from jobpulse.demo.stats import JobMetrics
    from jobpulse.spec.load import load_spec

    root = Path(__file__).resolve().parents[2] / "examples"
    preview = JobMetrics.from_spec(load_spec(root / "preview_jobs" / "jobpulse.yaml"))
    platform = JobMetrics.from_spec(load_spec(root / "platform" / "jobpulse.yaml"))
    assert preview is not None and platform is not None
    assert preview.ms_per_unit == 1.0  # the seed's _ms histogram
    assert not preview.queries()["p95_ms"].startswith("1000 *")
    assert platform.ms_per_unit == 1000.0  # a _seconds histogram
    assert platform.queries()["p95_ms"].startswith("1000 * histogram_quantile(")
