"""``jobpulse import FILE``: convert seed-004 JSON or OpenSLO v1 SLOs into the spec's ``slos`` section."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobpulse.cli.common import EXIT_PROBLEMS, fail
from jobpulse.importers.slos import (
    Conversion,
    SourceFormatError,
    apply_settings,
    detect,
    from_openslo,
    from_seed_json,
)


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--from",
    "fmt",
    type=click.Choice(["auto", "seed-json", "openslo"]),
    default="auto",
    show_default=True,
    help="The input format.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME.FIELD=VALUE",
    help="Fill in an SLI, e.g. --set 'api-availability.total=http_requests_total'. Repeatable.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the YAML here (default: standard output).",
)
def import_command(source: Path, fmt: str, settings: tuple[str, ...], out: Path | None) -> None:
    """Convert SLOs in SOURCE into spec YAML; exit 1 when something could not be converted."""
    text = source.read_text(encoding="utf-8")
    try:
        kind = detect(text) if fmt == "auto" else fmt
        result: Conversion = from_seed_json(text) if kind == "seed-json" else from_openslo(text)
        apply_settings(result, list(settings))
    except SourceFormatError as exc:
        fail(f"{source}: {exc}")
    output = result.to_yaml()
    if out is None:
        click.echo(output, nl=False)
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(output, encoding="utf-8")
        tmp.replace(out)
    click.echo(f"converted {len(result.slos)} SLO(s) from {source} ({kind})", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for problem in result.problems:
        click.echo(f"not converted: {problem}", err=True)
    sys.exit(EXIT_PROBLEMS if result.problems else 0)
