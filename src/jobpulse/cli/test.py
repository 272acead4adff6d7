"""``jobpulse test SPEC``: run the spec's alert tests with promtool, one line per test."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobpulse.cli.common import EXIT_PROBLEMS, fail, load_or_exit
from jobpulse.compile import compile_spec
from jobpulse.render.files import write_build
from jobpulse.verify.binaries import MissingBinaryError
from jobpulse.verify.promtool import check_rules, run_tests


@click.command("test")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Show promtool's output for passing tests too.")
def test_command(spec: Path, verbose: bool) -> None:
    """Check SPEC's generated rules and run its alert tests with promtool."""
    import tempfile

    model = load_or_exit(spec)
    result = compile_spec(model)
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
        if not result.test_groups:
            click.echo("no alert tests in the spec: add a `tests:` section (promtool's format) or an SLO")
            sys.exit(EXIT_PROBLEMS)
        results = run_tests(result)
    except MissingBinaryError as exc:
        fail(str(exc))
    failed = 0
    for item in results:
        status = "ok  " if item.passed else "FAIL"
        click.echo(f"{status} {item.name} ({item.seconds:.2f}s)")
        if not item.passed or verbose:
            for line in item.output.splitlines():
                click.echo(f"       {line}")
        failed += not item.passed
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(EXIT_PROBLEMS if failed else 0)
