"""``jobpulse build SPEC [-o DIR]``: write rules, dashboards, docs and alert tests."""

from __future__ import annotations

from pathlib import Path

import click

from jobpulse.cli.common import fail, load_or_exit
from jobpulse.cli.lint import refuse_lint_errors
from jobpulse.cli.target import target_option
from jobpulse.compile import compile_spec
from jobpulse.render.atomic import absolute
from jobpulse.render.files import NotABuildDirectory, write_build
from jobpulse.spec.targets import RuleTarget


def default_out_dir(spec_path: Path) -> Path:
    return spec_path.parent / "build"


@click.command("build")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (default: build/ beside the spec). Replaced whole, atomically.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.option(
    "--ignore-lint-errors",
    is_flag=True,
    help="Build even when `jobpulse lint` finds error-level problems in SPEC (and say so on stderr).",
)
@target_option
@click.option(
    "--k8s",
    "kubernetes",
    is_flag=True,
    help="Also write kubernetes/: a PrometheusRule, a ServiceMonitor or PodMonitor per scrape endpoint, "
    "and each dashboard as a ConfigMap for Grafana's sidecar.",
)
def build_command(
    spec: Path,
    out_dir: Path | None,
    quiet: bool,
    ignore_lint_errors: bool,
    target: RuleTarget | None,
    kubernetes: bool,
) -> None:
    """Compile SPEC into Prometheus rules, Grafana dashboards, docs and promtool tests.

    Refuses (exit 1) when `jobpulse lint SPEC` finds error-level problems, unless --ignore-lint-errors.
    Rule files never carry a field the --target rule engine refuses.
    """
    model = load_or_exit(spec)
    refuse_lint_errors(spec, override=ignore_lint_errors, target=target)
    result = compile_spec(model, target, kubernetes=kubernetes)
    out = out_dir or default_out_dir(spec)
    try:
        written = write_build(result, out)
    except NotABuildDirectory as exc:
        fail(str(exc))
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if not quiet:
        click.echo(f"built {len(written)} files in {out}")
        for path in written:
            click.echo(f"  {path.relative_to(absolute(out))}")
