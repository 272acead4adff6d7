"""``jobpulse backtest SPEC``: prove which alerts fire on simulated faults, and that none fires when healthy."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from jobpulse.cli.common import EXIT_PROBLEMS, EXIT_USAGE, fail, load_or_exit
from jobpulse.extras import require
from jobpulse.spec.errors import SpecError
from jobpulse.spec.slo import duration_seconds
from jobpulse.spec.wire_backtest import BUILTIN_SCENARIOS
from jobpulse.verify.binaries import MissingBinaryError


def _print_problems(exc: SpecError) -> None:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    sys.exit(EXIT_USAGE)


@click.command("backtest")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help=f"Run only this scenario (repeatable). Built in: {', '.join(BUILTIN_SCENARIOS)}; plus the spec's own.",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Report directory (default: backtest/ beside the spec). Replaced whole, atomically.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True, max=400),
    default=None,
    metavar="N",
    help="Simulate N days per scenario instead of each scenario's own duration (faults keep their offsets).",
)
@click.option(
    "--resolution",
    default=None,
    metavar="DURATION",
    help="Scrape interval of the simulation, e.g. 1m (default: the spec's service.scrape_interval).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but problems.")
def backtest_command(
    spec: Path,
    scenarios: tuple[str, ...],
    out_dir: Path | None,
    days: float | None,
    resolution: str | None,
    quiet: bool,
) -> None:
    """Drive SPEC's real job tracker through simulated scenarios and check which alerts fire.

    Each scenario (a healthy week, a failure spike, a latency regression, a stalled queue, a traffic drop,
    and the spec's own `backtest.scenarios`) is recorded at the scrape interval, imported into a TSDB
    with promtool, and every recording and alerting rule is evaluated by a real Prometheus on loopback.
    Writes DIR/report.md (with PNG plots) and DIR/report.json.

    Exit codes: 0 every expected alert fired and nothing fired on healthy traffic; 1 otherwise;
    2 usage or spec errors (or promtool/prometheus missing).
    """
    require("httpx", extra="backtest", feature="jobpulse backtest")
    require("matplotlib", extra="backtest", feature="jobpulse backtest (the report's plots)")
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from jobpulse.compile.build import compile_spec
    from jobpulse.render.files import NotABuildDirectory, ensure_replaceable
    from jobpulse.verify.backtest.evaluate import BacktestError, alert_rules
    from jobpulse.verify.backtest.report import REPORT_MARKER, render_report, write_report
    from jobpulse.verify.backtest.run import run_backtest, unknown_refs
    from jobpulse.verify.backtest.scenarios import Scenario, load_section, plan_backtest

    model = load_or_exit(spec)
    out = out_dir or spec.parent / "backtest"
    try:  # refuse a directory we would have to delete before spending minutes on the backtest
        ensure_replaceable(out.resolve(), REPORT_MARKER, also=("report.json",))
    except NotABuildDirectory as exc:
        fail(f"-o: {exc}")
    step_text = resolution or model.service.scrape_interval
    try:
        step = float(duration_seconds(step_text))
    except (ValueError, ArithmeticError):
        step = 0.0
    if not (1 <= step <= 300) or step != int(step):
        fail(f"--resolution must be a whole number of seconds between 1s and 5m, got {step_text!r}")
    try:
        section, positions = load_section(spec)
        plan = plan_backtest(model, section, positions, selected=scenarios, days=days)
    except SpecError as exc:
        _print_problems(exc)
    build = compile_spec(model)
    rules = alert_rules(build.get(build.rule_file).content, model.service.evaluation_interval)
    for problem in unknown_refs(plan, rules):
        click.echo(f"{spec}: error: backtest: {problem}", err=True)
    if unknown_refs(plan, rules):
        sys.exit(EXIT_USAGE)
    if not plan.scenarios:
        fail("no scenario to run: `backtest.builtin` is false and the spec defines no `backtest.scenarios`")

    console = Console(stderr=True)
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=False,
    ) as progress:
        tasks = {s.name: progress.add_task(f"{s.name}: waiting", total=1.0) for s in plan.scenarios}

        def tell(scenario: Scenario, what: str, fraction: float) -> None:
            progress.update(tasks[scenario.name], completed=fraction, description=f"{scenario.name}: {what}")

        try:
            result = run_backtest(plan, resolution=int(step), progress=tell)
        except MissingBinaryError as exc:
            fail(str(exc))
        except BacktestError as exc:
            fail(f"backtest could not run: {exc}")
    rendering = time.perf_counter()
    files = render_report(result, str(spec))
    try:
        written = write_report(files, out)
    except NotABuildDirectory as exc:
        fail(f"-o: {exc}")
    elapsed = time.perf_counter() - began
    stages: dict[str, float] = {}
    for scenario_result in result.scenarios:
        for stage, seconds in scenario_result.seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    stages["report"] = time.perf_counter() - rendering
    for scenario in result.scenarios:
        if scenario.ok and quiet:
            continue
        fired = ", ".join(a.ref for a in scenario.alerts if a.fired) or "nothing"
        status = "ok  " if scenario.ok else "FAIL"
        click.echo(f"{status} {scenario.scenario.name}: fired {fired}")
        for problem in scenario.problems:
            click.echo(f"       {problem}")
    if not quiet:
        click.echo(f"wrote {len(written)} files in {out} ({out / 'report.md'}) in {elapsed:.1f}s")
        breakdown = ", ".join(f"{stage.replace('_', ' ')} {seconds:.1f}s" for stage, seconds in stages.items())
        click.echo(f"time per stage, summed over scenarios: {breakdown}")
    sys.exit(0 if result.ok else EXIT_PROBLEMS)
