"""``jobpulse test SPEC``: run the spec's alert tests with promtool, one line per test as it ends."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from jobpulse.cli.common import EXIT_PROBLEMS, fail, load_or_exit
from jobpulse.compile import compile_spec
from jobpulse.render.files import write_build
from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.promtool import PARALLEL, TestResult, check_rules, run_tests, shard

#: the slowest tests named at the end (with their evaluation steps: what makes a promtool test slow)
SLOWEST = 5


class _Report:
    """Prints each test's line as it ends; on a terminal, a progress bar names the tests running now."""

    def __init__(self, console: Console, total: int, *, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.progress = Progress(
            TextColumn("promtool"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[running]}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task: TaskID = self.progress.add_task("tests", total=total, running="")

    def _running(self) -> str:
        now = time.monotonic()
        return "  ".join(f"{name} ({now - since:.0f}s)" for name, since in self.running.items())

    def started(self, name: str) -> None:
        with self.lock:
            self.running[name] = time.monotonic()
            self.progress.update(self.task, running=self._running())

    def finished(self, result: TestResult) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            status = "ok  " if result.passed else "FAIL"
            self.say(f"{status} {result.name} ({result.seconds:.2f}s)")
            if not result.passed or self.verbose:
                for line in result.output.splitlines():
                    self.say(f"       {line}")
            self.progress.update(self.task, advance=1, running=self._running())

    def say(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _slowest(results: list[TestResult]) -> list[str]:
    ranked = sorted(results, key=lambda r: r.seconds, reverse=True)[:SLOWEST]
    return [f"  {r.seconds:6.1f}s  {r.name} ({r.steps} evaluation steps)" for r in ranked]


def _parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise click.UsageError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/3")
    return int(index), int(count)


@click.command("test")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Show promtool's output for passing tests too.")
@click.option(
    "-k",
    "--match",
    "matches",
    multiple=True,
    metavar="TEXT",
    help="Run only the tests whose name contains TEXT (case-insensitive; repeat for any of several).",
)
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Run shard I of N: the tests split into N parts of about equal evaluation time (for N CI jobs).",
)
def test_command(spec: Path, verbose: bool, matches: tuple[str, ...], shard_spec: str | None) -> None:
    """Check SPEC's generated rules and run its alert tests with promtool.

    Each test prints its line as it ends (a progress bar on a terminal names the ones running); the
    slowest are listed at the end with the evaluation steps that make them slow.
    """
    import tempfile

    console = Console(highlight=False)
    shard_of = _parse_shard(shard_spec) if shard_spec else None
    model = load_or_exit(spec)
    result = compile_spec(model)
    every = len(result.test_groups)
    selected = result.test_groups
    if matches:
        wanted = [m.casefold() for m in matches]
        selected = [g for g in selected if any(m in g.name.casefold() for m in wanted)]
        if not selected:
            fail(f"no test's name contains {' or '.join(repr(m) for m in matches)} (of {every} tests)")
    if shard_of is not None:
        selected = shard(selected, *shard_of)
    result = replace(result, test_groups=selected)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="jobpulse-check-") as tmp:
            write_build(result, Path(tmp) / "build")
            check = check_rules(Path(tmp) / "build" / result.rule_file)
        if not check.ok:
            click.echo(f"FAIL promtool check rules\n{check.output}")
            sys.exit(EXIT_PROBLEMS)
        click.echo(f"ok   promtool check rules ({result.rule_file})")
        for note in result.notes:
            click.echo(f"note {note}")
        if not result.test_groups and every:
            click.echo(f"shard {shard_spec} has none of the {every} tests: nothing to run")
            sys.exit(0)
        if not result.test_groups:
            click.echo("no alert tests in the spec: add a `tests:` section (promtool's format) or an SLO")
            sys.exit(EXIT_PROBLEMS)
        total = len(result.test_groups)
        part = "" if total == every else f" of {every}" + (f" (shard {shard_spec})" if shard_spec else "")
        click.echo(f"running {total}{part} tests with promtool, {PARALLEL} at a time")
        report = _Report(console, total, verbose=verbose)
        with report.progress:
            results = run_tests(result, on_start=report.started, on_result=report.finished)
    except MissingBinaryError as exc:
        fail(str(exc))
    failed = sum(not item.passed for item in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed in {time.monotonic() - started:.1f}s")
    if len(results) > 1:
        click.echo("slowest:")
        for line in _slowest(results):
            click.echo(line)
    sys.exit(EXIT_PROBLEMS if failed else 0)
