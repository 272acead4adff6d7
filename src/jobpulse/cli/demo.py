"""``jobpulse demo [EXAMPLE]``: run an example app with traffic, Prometheus and a live view."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from jobpulse.cli.common import EXIT_PROBLEMS, fail, load_or_exit
from jobpulse.extras import require
from jobpulse.render.files import NotABuildDirectory, ensure_replaceable
from jobpulse.spec.model import Spec

SCENARIOS = ("healthy", "failure-spike", "slow", "stall")
DEMO_DIR = ".demo"  # jobpulse.demo.DEMO_DIR, without importing uvicorn & co. for every command


def _check_out_dir(out: Path, spec: Spec) -> None:
    """The build replaces ``out`` whole: refuse a directory that a jobpulse build did not write."""
    try:
        ensure_replaceable(out.resolve())
    except NotABuildDirectory as exc:
        fail(f"--out: {exc}")


@click.command("demo")
@click.argument("example", default="preview_jobs", required=False)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port of the app on 127.0.0.1 (default: a free one)."
)
@click.option(
    "--scenario",
    type=click.Choice(SCENARIOS),
    default="healthy",
    show_default=True,
    help="Fault scenario: failure-spike fails ~35% of renders, slow renders 10x slower, stall stops the workers.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop after SECONDS (default: run until Ctrl-C).",
)
@click.option("--no-prometheus", is_flag=True, help="Do not start Prometheus and Alertmanager.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Build directory (default: build/ in the example). Replaced whole; run data goes to its .demo/.",
)
def demo_command(
    example: str, port: int, scenario: str, duration: float | None, no_prometheus: bool, out_dir: Path | None
) -> None:
    """Build EXAMPLE (default: preview_jobs), serve its app, drive it and watch it.

    EXAMPLE is a directory or a name under ./examples (or the repository's examples/). Prometheus
    and Alertmanager run too when installed (loopback only, free ports); the view shows jobs/min,
    failure %, p95, queue depth and alerts. Ctrl-C (or SIGTERM, or the end of --duration) stops
    everything and prints a summary.
    """
    for module in ("starlette", "uvicorn", "httpx"):
        require(module, extra="demo", feature="jobpulse demo")
    from rich.console import Console

    from jobpulse.demo import DemoError, DemoOptions, ExampleError, load_example, print_summary, run_demo

    try:
        loaded = load_example(example)
    except ExampleError as exc:
        fail(str(exc))
    spec = load_or_exit(loaded.spec_path)
    out = out_dir if out_dir is not None else loaded.path / "build"
    _check_out_dir(out, spec)
    console = Console()
    options = DemoOptions(
        example=loaded,
        spec=spec,
        out_dir=out,
        port=port,
        scenario=scenario,
        duration=duration,
        prometheus=not no_prometheus,
    )
    try:
        summary = asyncio.run(run_demo(options, console))
    except DemoError as exc:
        fail(str(exc), EXIT_PROBLEMS)
    print_summary(console, summary)
    if summary.error:
        sys.exit(EXIT_PROBLEMS)
