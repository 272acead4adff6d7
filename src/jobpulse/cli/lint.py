"""``jobpulse lint [PATH ...] [--spec SPEC] [--format ...] [--online URL]``: check queries, alerts and dashboards."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobpulse.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, fail
from jobpulse.cli.target import target_option
from jobpulse.lint.online import OnlineError, PrometheusAPI
from jobpulse.lint.problem import Severity
from jobpulse.lint.registry import all_checks
from jobpulse.lint.reporters import REPORTERS
from jobpulse.lint.runner import LintInputError, lint_paths, lint_spec_problems
from jobpulse.spec.errors import SpecError
from jobpulse.spec.targets import RuleTarget


def _list_checks() -> str:
    lines = []
    for c in all_checks().values():
        needs = " (needs a spec)" if c.needs_catalogue else " (needs --online)" if c.online else ""
        lines.append(f"{c.id:28} {c.severity.value:8} {c.summary}{needs}")
    return "\n".join(lines)


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--spec",
    "spec",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Check queries against this spec's catalogue (metrics, labels, scrape interval, lint.allow).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(sorted(REPORTERS)),
    default="text",
    show_default=True,
    help="text: path:line:col: severity check message; json; github (workflow annotations); sarif.",
)
@click.option(
    "--online",
    "online_url",
    metavar="PROMETHEUS_URL",
    default=None,
    help="Also ask this Prometheus which series exist (e.g. http://localhost:9090).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Lowest severity that makes the exit code 1.",
)
@target_option
@click.option("--list-checks", is_flag=True, help="List the checks with their ids and severities, then exit.")
def lint_command(
    paths: tuple[Path, ...],
    spec: Path | None,
    output_format: str,
    online_url: str | None,
    fail_on: str,
    target: RuleTarget | None,
    list_checks: bool,
) -> None:
    """Lint jobpulse specs, Prometheus rule files, PrometheusRule resources, Grafana dashboards and Datadog monitors.

    PATH may be a file or a directory (walked for .yaml, .yml and .json). A spec is checked against its
    own catalogue; other files against --spec (or the one spec among the PATHs), else only with the checks
    that need no catalogue.
    Suppress a problem with `# jobpulse: disable=<check-id> -- <reason>` on its line, or with the spec's
    `lint.allow` list. Exit codes: 0 clean, 1 problems at --fail-on level or worse, 2 usage or spec errors.
    """
    if list_checks:
        click.echo(_list_checks())
        return
    if not paths and spec is None:
        fail("give a PATH to lint (a spec, rule file, PrometheusRule, dashboard or directory), or --spec SPEC")
    online = None
    if online_url is not None:
        try:
            online = PrometheusAPI(online_url)
        except OnlineError as exc:
            fail(f"--online: {exc}")
    try:
        result = lint_paths(list(paths), spec=spec, online=online, target=target)
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_USAGE)
    except (LintInputError, OnlineError) as exc:
        fail(str(exc))
    if not result.files:
        fail("no lintable files found (.yaml, .yml or .json with rules, dashboards, monitors or a spec)")
    click.echo(REPORTERS[output_format](result.problems, all_checks(), len(result.files)), nl=False)
    threshold = Severity(fail_on).rank
    failing = any(p.severity.rank >= threshold for p in result.problems)
    sys.exit(EXIT_PROBLEMS if failing else EXIT_OK)


def refuse_lint_errors(spec: Path, *, override: bool, target: RuleTarget | None = None) -> None:
    """For ``jobpulse build``: exit 1 when the spec has error-level lint problems, unless ``override``."""
    try:
        problems = lint_spec_problems(spec, target)
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_USAGE)
    except LintInputError as exc:
        fail(str(exc))
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if not errors:
        return
    click.echo(REPORTERS["text"](errors, all_checks(), 1), err=True, nl=False)
    count = f"{len(errors)} lint error{'s' if len(errors) != 1 else ''}"
    if override:
        click.echo(f"jobpulse: building despite {count} (--ignore-lint-errors)", err=True)
        return
    fail(
        f"not building {spec}: {count}. Fix them, suppress them with a reason "
        "(`# jobpulse: disable=<check> -- <reason>` or lint.allow), or pass --ignore-lint-errors",
        code=EXIT_PROBLEMS,
    )
