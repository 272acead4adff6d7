"""Entry point: ``jobpulse <command>``."""

from __future__ import annotations

import click

from jobpulse._version import __version__
from jobpulse.cli.backtest import backtest_command
from jobpulse.cli.build import build_command
from jobpulse.cli.canary import canary_command
from jobpulse.cli.demo import demo_command
from jobpulse.cli.import_slos import import_command
from jobpulse.cli.lint import lint_command
from jobpulse.cli.status import status_command
from jobpulse.cli.test import test_command
from jobpulse.extras import MissingExtra


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="jobpulse")
def cli() -> None:
    """jobpulse: one telemetry spec for metrics, alerts, dashboards and their tests.

    Exit codes: 0 clean, 1 problems found (failing tests), 2 usage or spec errors.
    """


cli.add_command(build_command)
cli.add_command(test_command)
cli.add_command(demo_command)
cli.add_command(lint_command)
cli.add_command(import_command)
cli.add_command(backtest_command)
cli.add_command(canary_command)
cli.add_command(status_command)


def main() -> None:
    try:
        cli(prog_name="jobpulse")
    except MissingExtra as exc:
        # an optional dependency a command needs is not installed: say what to install, exit 2
        click.echo(f"jobpulse: {exc}", err=True)
        raise SystemExit(2) from None
