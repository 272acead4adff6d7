"""``jobpulse demo [EXAMPLE]``: run an example app with traffic, Prometheus and a live view."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jobpulse.cli.common import EXIT_PROBLEMS, fail, load_or_exit
from jobpulse.extras import require
from jobpulse.render.files import NotABuildDirectory, ensure_replaceable
from jobpulse.spec.model import Spec

if TYPE_CHECKING:
    from jobpulse.demo.scenarios import Scenario

DEMO_DIR = ".demo"  # jobpulse.demo.DEMO_DIR, without importing uvicorn & co. for every command


def _check_out_dir(out: Path, spec: Spec) -> None:
    """The build replaces ``out`` whole: refuse a directory that a jobpulse build did not write."""
    try:
        ensure_replaceable(out.resolve())
    except NotABuildDirectory as exc:
        fail(f"--out: {exc}")


def _example_dirs() -> list[Path]:
    """Examples under ./examples, then the repository's (for the help text)."""
    from jobpulse.demo.example import SPEC_FILE, repo_examples_dir

    seen: dict[str, Path] = {}
    for base in (Path.cwd() / "examples", repo_examples_dir()):
        if base.is_dir():
            for path in sorted(base.iterdir()):
                if (path / SPEC_FILE).is_file() and (path / "app.py").is_file():
                    seen.setdefault(path.name, path)
    return list(seen.values())


def _outcome(scenario: Scenario) -> str:
    if scenario.rollout is not None:
        return f" -> verdict {scenario.rollout}"
    return f" -> {', '.join(scenario.fires)}" if scenario.fires else " -> nothing"


class _DemoCommand(click.Command):
    """Its help ends with every example's fault scenarios, read from their scenarios.yaml when help is asked for."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from jobpulse.demo.scenarios import ScenarioError, load_scenarios

        formatter.write_paragraph()
        formatter.write_text(
            "Fault scenarios (--scenario), per example; each fires the alerts after ->. A rollout scenario serves "
            "a baseline and a canary side by side, plays the spec's rollout phases (60x faster unless --speed says "
            "otherwise) and ends in the verdict after ->:"
        )
        for path in _example_dirs():
            try:
                scenarios = load_scenarios(path)
            except ScenarioError as exc:
                formatter.write_text(f"{path.name}: {exc}")
                continue
            with formatter.section(path.name):
                formatter.write_dl([(s.name, s.effect + _outcome(s)) for s in scenarios.values()])


@click.command("demo", cls=_DemoCommand)
@click.argument("example", default="preview_jobs", required=False)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port of the app on 127.0.0.1 (default: a free one)."
)
@click.option(
    "--scenario",
    default="healthy",
    show_default=True,
    metavar="NAME",
    help="Fault scenario of the example (listed below, and in its scenarios.yaml).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop after SECONDS (default: run until Ctrl-C).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1, max=600),
    default=1.0,
    show_default=True,
    metavar="FACTOR",
    help="Run time FACTOR times faster: the app's clock and every duration of the rules (for, windows) alike, "
    "so a 10-minute alert fires in 10/FACTOR minutes.",
)
@click.option("--no-prometheus", is_flag=True, help="Do not start Prometheus (or VictoriaMetrics) and Alertmanager.")
@click.option(
    "--tsdb",
    type=click.Choice(["prometheus", "victoria-metrics"]),
    default="prometheus",
    show_default=True,
    help="victoria-metrics: VictoriaMetrics stores the samples vmagent scrapes and vmalert evaluates the rules "
    "into the same Alertmanager (Debian's victoria-metrics package).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Build directory (default: build/ in the example). Replaced whole; run data goes to its .demo/.",
)
def demo_command(
    example: str,
    port: int,
    scenario: str,
    duration: float | None,
    speed: float,
    no_prometheus: bool,
    tsdb: str,
    out_dir: Path | None,
) -> None:
    """Build EXAMPLE (default: preview_jobs), serve its app, drive it and watch it.

    EXAMPLE is a directory or a name under ./examples (or the repository's examples/). Prometheus
    and Alertmanager run too when installed (loopback only, free ports); the view shows jobs/min,
    failure %, p95, queue depth and alerts, read from the example's own metrics. Ctrl-C (or SIGTERM,
    or the end of --duration) stops everything and prints a summary.
    """
    for module in ("starlette", "uvicorn", "httpx"):
        require(module, extra="demo", feature="jobpulse demo")
    from rich.console import Console

    from jobpulse.demo import DemoError, DemoOptions, ExampleError, load_example, print_summary, run_demo
    from jobpulse.demo.scenarios import ScenarioError, load_scenarios

    try:
        loaded = load_example(example)
        scenarios = load_scenarios(loaded.path)
    except (ExampleError, ScenarioError) as exc:
        fail(str(exc))
    if scenario not in scenarios:
        fail(f"--scenario: {loaded.name} has no scenario {scenario!r}; choose from {', '.join(scenarios)}")
    spec = load_or_exit(loaded.spec_path)
    rollout = scenarios[scenario].rollout is not None
    if rollout and not spec.rollouts:
        fail(f"--scenario {scenario}: {loaded.name}'s spec has no `rollouts` section to play")
    if rollout and (no_prometheus or tsdb != "prometheus"):
        given = "--no-prometheus" if no_prometheus else f"--tsdb {tsdb}"
        fail(f"--scenario {scenario}: a rollout is judged from Prometheus (jobpulse canary); drop {given}")
    out = out_dir if out_dir is not None else loaded.path / "build"
    _check_out_dir(out, spec)
    console = Console()
    options = DemoOptions(
        example=loaded,
        spec=spec,
        out_dir=out,
        port=port,
        scenario=scenario,
        fault=scenarios[scenario],
        duration=duration,
        speed=speed,
        prometheus=not no_prometheus,
        tsdb=tsdb,
    )
    try:
        if rollout:
            from jobpulse.demo.rollout_run import run_rollout_demo

            summary = asyncio.run(run_rollout_demo(options, console, speed=speed))
        else:
            summary = asyncio.run(run_demo(options, console))
    except DemoError as exc:
        fail(str(exc), EXIT_PROBLEMS)
    print_summary(console, summary)
    if summary.error:
        sys.exit(EXIT_PROBLEMS)
