"""``jobpulse demo prompt_rollout --scenario bad-canary|good-canary``: baseline and canary side by side against a real
Prometheus, the phases played 60x faster, the verdict from ``jobpulse canary``'s own judgement."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jobpulse.canary.judge import FAIL, INCONCLUSIVE, PASS, PhaseVerdict, SideData, judge_metric, judge_phase_metrics
from jobpulse.demo import DemoOptions, load_example
from jobpulse.demo.rollout import (
    MIN_PHASE_SAMPLES,
    SAMPLE_SECONDS,
    PhaseRecord,
    RolloutDriver,
    TrafficSplit,
    compress_rollout,
    render_rollout,
    rollout_status_line,
    rollout_summary_lines,
)
from jobpulse.demo.rollout_run import run_rollout_demo
from jobpulse.demo.scenarios import SCENARIOS_FILE, ScenarioError, load_scenarios
from jobpulse.demo.server import AppServer
from jobpulse.prometheus_api import PrometheusAPI
from jobpulse.spec.load import load_spec
from tests.demo.test_demo import processes_mentioning

ROOT = Path(__file__).resolve().parents[2]
JOBPULSE = str(Path(sys.executable).parent / "jobpulse")
SPEC = load_spec(ROOT / "examples" / "prompt_rollout" / "jobpulse.yaml")
ROLLOUT = SPEC.rollouts[0]


# -- the plan -------------------------------------------------------------------------------------------------------
def test_the_phases_are_compressed_with_the_same_events_per_second() -> None:
    played = compress_rollout(ROLLOUT, 60)
    assert (played.interval, played.interval_seconds) == (f"{SAMPLE_SECONDS:g}s", SAMPLE_SECONDS)
    # 30m / 60 = 30 s, but a phase holds at least 15 samples; 1h / 60 = 60 s
    assert [p.min_duration_seconds for p in played.phases] == [MIN_PHASE_SAMPLES * SAMPLE_SECONDS] * 2 + [60.0]
    assert [p.min_duration for p in played.phases] == ["45s", "45s", "60s"]
    # 500 events in 30 minutes is 12.5 in 45 seconds
    assert [p.min_events for p in played.phases] == [13, 25, 34]
    assert [p.weight for p in played.phases] == [5, 25, 100]
    assert [m.name for m in played.metrics] == [m.name for m in ROLLOUT.metrics]


async def _answer(request: Request) -> Response:
    return PlainTextResponse(request.app.state.name)


def _named(name: str) -> Starlette:
    app = Starlette(routes=[Route("/", _answer)])
    app.state.name = name
    return app


@pytest.mark.anyio
async def test_the_traffic_split_follows_the_weight() -> None:
    servers = [await AppServer(_named(name)).start() for name in ("baseline", "canary")]
    split = TrafficSplit(servers[0].url, servers[1].url, seed=7)
    try:
        async with httpx.AsyncClient(transport=split, trust_env=False) as client:

            async def ask(count: int) -> list[str]:
                return [r.text for r in await asyncio.gather(*(client.get("http://anywhere/") for _ in range(count)))]

            answers: dict[float, list[str]] = {}
            for weight, rounds in ((0.0, 1), (25.0, 8), (100.0, 1)):
                split.weight = weight
                answers[weight] = [text for _ in range(rounds) for text in await ask(50)]
    finally:
        for server in servers:
            await server.stop()
    assert set(answers[0.0]) == {"baseline"} and set(answers[100.0]) == {"canary"}
    assert 70 <= answers[25.0].count("canary") <= 130  # 100 expected; binomial sd 8.7
    assert split.sent == {
        "baseline": 50 + answers[25.0].count("baseline"),
        "canary": 50 + answers[25.0].count("canary"),
    }


def _verdict(canary_errors: int) -> PhaseVerdict:
    """A phase judged on synthetic per-interval counts: 15 intervals, 40 events per side, the baseline 1 error."""
    played = compress_rollout(ROLLOUT, 60)
    phase, metric = played.phases[0], played.metrics[0]
    canary = SideData([40.0] * 15, hits=[float(canary_errors)] * 15)
    baseline = SideData([40.0] * 15, hits=[1.0 if i % 2 else 0.0 for i in range(15)])
    metrics = [judge_metric(played, phase, metric, canary, baseline)]
    verdict, reason = judge_phase_metrics(played, metrics)
    return PhaseVerdict(played, phase, verdict, reason, metrics, 0.0, 45.0, 0.0, 45.0)


def test_the_view_shows_each_metrics_verdict_and_the_summary_the_final_one() -> None:
    driver = RolloutDriver(
        compress_rollout(ROLLOUT, 60), TrafficSplit("http://a", "http://b"), PrometheusAPI("http://x")
    )
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(render_rollout(driver))  # before the first phase: nothing judged yet
    assert "waiting for the apps and Prometheus" in console.file.getvalue()  # type: ignore[attr-defined]
    assert rollout_summary_lines(driver, 60)[-1] == "  final verdict: none (the demo ended before the first sample)"
    for errors, state, expected in ((8, "rolled back", FAIL), (0, "promoted", PASS)):
        verdict = _verdict(errors)
        assert verdict.verdict == expected
        driver.records = [PhaseRecord(verdict.phase, 0.0, verdict)]
        driver.state = state
        console = Console(file=io.StringIO(), width=140, color_system=None)
        console.print(render_rollout(driver))
        shown = console.file.getvalue()  # type: ignore[attr-defined]
        assert re.search(rf"http-5xx-ratio \*\s+│ {expected}", shown), shown
        assert f"verdict  {expected}:" in shown
        assert f"http-5xx-ratio={expected}" in rollout_status_line(driver)
        lines = rollout_summary_lines(driver, 60)
        assert lines[0] == f"Rollout prompter-v7 (60x faster: one sample per 3s): {state}"
        assert f"  phase canary (5%, 45s): {expected}" in lines
        assert any(line.startswith(f"  final verdict: {expected.upper()} - ") for line in lines)


# -- the demo, end to end ---------------------------------------------------------------------------------------------
# One test per scenario (bad-canary ~70 s; good-canary ~160 s, three phases of 45 s), so that pytest-xdist runs
# each once. Nothing is faked: two apps, a real Prometheus scraping them, jobpulse canary's judgement.
LIVE = re.compile(
    r"rollout prompter-v7: phase (\w+): (\d+)% of the traffic on the canary, \d+s of \d+s; "
    r"http-5xx-ratio=(\w+) http-p95-latency=(\w+) probe-failure-ratio=(\w+)"
)
NUMBERS = r"{} \(critical\): .*\n\s+canary ([\d.]+)(%|s) \([\d,]+ events\) vs baseline ([\d.]+)(%|s) \([\d,]+ events\)"


def _demo(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``jobpulse demo ARGS --out tmp_path/build`` in a real process, from ``tmp_path``."""
    return subprocess.run(
        [JOBPULSE, "demo", *args, "--out", str(tmp_path / "build")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.integration
def test_bad_canary_fails_its_first_phase_live_and_is_rolled_back(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, redis_bin: str
) -> None:
    out = tmp_path / "build"
    result = _demo(tmp_path, "prompt_rollout", "--scenario", "bad-canary", timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"baseline:\s+http://127\.0\.0\.1:\d+", output) and re.search(r"canary:\s+http://", output)
    # the live view (not a terminal: a status line every 5 s) gives each metric's verdict of the phase so far
    live = LIVE.findall(output)
    assert len(live) >= 5, output
    assert {(phase, weight) for phase, weight, *_ in live} == {("canary", "5")}, live
    assert {verdict for line in live for verdict in line[2:]} <= {PASS, FAIL, INCONCLUSIVE}, live
    rolled_back = re.search(
        r"rollout prompter-v7: rolled back in phase canary: the canary gets no traffic; (.+)", output
    )
    assert rolled_back and "http-p95-latency=fail" in rolled_back.group(1), output
    # the summary: the first phase failed, the canary was rolled back and never expanded
    summary = output.split("Rollout prompter-v7 (60x faster: one sample per 3s): ")[1]
    assert summary.startswith("rolled back"), summary
    phases = re.findall(r"^  phase (\w+) \((\d+)%, (\d+)s\): (\w+)$", summary, re.MULTILINE)
    assert phases == [("canary", "5", "45", "fail")], summary
    assert re.search(r"final verdict: FAIL - critical metric .*(http-5xx-ratio|http-p95-latency)", summary), summary
    # from what Prometheus scraped: v7's p95 is well above v6's (its provider calls are 5x slower)
    latency = re.search(NUMBERS.format("http-p95-latency"), summary)
    assert latency, summary
    assert float(latency.group(1)) > 2 * float(latency.group(3)), latency.group(0)
    assert re.search(r"fail\s+http-p95-latency \(critical\): worse by \+", summary), summary
    sent = re.search(r"traffic sent: baseline (\d+), canary (\d+)", summary)
    assert sent and 0 < int(sent.group(2)) < 0.1 * int(sent.group(1)), summary  # 5 %, then none
    assert processes_mentioning(str(out / ".demo")) == []


@pytest.mark.integration
def test_good_canary_passes_every_phase_live_and_is_promoted(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, redis_bin: str
) -> None:
    options = DemoOptions(
        example=load_example("prompt_rollout"),
        spec=SPEC,
        out_dir=tmp_path / "build",
        scenario="good-canary",
        duration=300.0,  # a bound: the rollout ends by itself after its three phases
    )
    console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system=None)  # rich's live view
    # --speed 120: the phases of 30 and 60 minutes last 45 s each (a phase holds at least 15 samples of 3 s)
    summary = asyncio.run(run_rollout_demo(options, console, speed=120))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    lines = "\n".join(summary.rollout)
    assert lines.startswith("Rollout prompter-v7 (120x faster: one sample per 3s): "), lines
    assert summary.error is None, output[-3000:]
    assert summary.rollout_phases == [("canary", PASS), ("expansion", PASS), ("full", PASS)], lines
    assert summary.rollout_state == "promoted", lines
    assert any(line.startswith("  final verdict: PASS - ") for line in summary.rollout), lines
    # the last phase (100 %) is judged against the baseline's preceding window: the canary's latency is v6's
    latency = re.search(NUMBERS.format("http-p95-latency"), lines)
    assert latency and abs(float(latency.group(1)) / float(latency.group(3)) - 1) < 0.2, lines
    sent = re.search(r"traffic sent: baseline (\d+), canary (\d+)", lines)
    assert sent and int(sent.group(2)) > int(sent.group(1)) / 2, lines  # the canary had 5 %, 25 %, then 100 %
    # the live view: the usual numbers, then the rollout's table, a row per metric with its verdict so far
    for phase in ("phase canary: 5% of the traffic", "phase expansion: 25% of the", "phase full: 100% of the"):
        assert f"rollout prompter-v7 · {phase}" in output, phase
    assert re.search(r"http-p95-latency \*\s+│ pass\s+│", output), output[-3000:]
    assert "rollout prompter-v7 · promoted: every phase passed, the canary serves all the traffic" in output
    assert "phases   canary 5%: pass  expansion 25%: pass  full 100%: pass" in output
    # every sample's judgement of the phase so far: inconclusive while there are too few samples, then pass
    full = [verdict for phase, verdict in summary.rollout_verdicts if phase == "full"]
    assert full[0] == INCONCLUSIVE and full[-1] == PASS, full


def test_a_rollout_scenario_needs_an_example_with_a_rollout(tmp_path: Path) -> None:
    result = _demo(tmp_path, "preview_jobs", "--scenario", "bad-canary")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "preview_jobs has no scenario 'bad-canary'" in result.stderr


@pytest.mark.parametrize(
    ("flag", "named"), [(["--no-prometheus"], "--no-prometheus"), (["--tsdb", "victoria-metrics"], "--tsdb")]
)
def test_a_rollout_is_judged_from_prometheus(tmp_path: Path, flag: list[str], named: str) -> None:
    result = _demo(tmp_path, "prompt_rollout", "--scenario", "bad-canary", *flag)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"a rollout is judged from Prometheus (jobpulse canary); drop {named}" in result.stderr
    assert not (tmp_path / "build").exists()


def test_examples_with_a_rollout_are_offered_the_rollout_scenarios(tmp_path: Path) -> None:
    scenarios = load_scenarios(ROOT / "examples" / "prompt_rollout")
    assert {name: s.rollout for name, s in scenarios.items() if s.rollout} == {
        "good-canary": "pass",
        "bad-canary": "fail",
    }
    assert "good-canary" not in load_scenarios(ROOT / "examples" / "preview_jobs")
    # an example's own file may define them (and must say pass or fail)
    (tmp_path / "jobpulse.yaml").write_text((ROOT / "examples" / "prompt_rollout" / "jobpulse.yaml").read_text())
    (tmp_path / SCENARIOS_FILE).write_text(
        "scenarios: {healthy: {effect: x}, bad-canary: {effect: v9 is slow, rollout: fail}}"
    )
    assert load_scenarios(tmp_path)["bad-canary"].effect == "v9 is slow"
    assert load_scenarios(tmp_path)["good-canary"].rollout == "pass"
    (tmp_path / SCENARIOS_FILE).write_text("scenarios: {healthy: {effect: x}, bad-canary: {effect: y, rollout: bad}}")
    with pytest.raises(ScenarioError, match=r"scenarios\.bad-canary\.rollout: expected pass or fail"):
        load_scenarios(tmp_path)


def test_demo_help_lists_the_rollout_scenarios() -> None:
    result = subprocess.run([JOBPULSE, "demo", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    prompt_rollout = text.split("prompt_rollout:")[1].split("render_pipeline:")[0]
    assert "good-canary A rollout whose canary behaves like its baseline" in prompt_rollout
    assert "-> verdict pass" in prompt_rollout and "-> verdict fail" in prompt_rollout
