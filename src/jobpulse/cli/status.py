"""``jobpulse status serve SPEC``: the spec's public status page on its own; ``jobpulse status migrate``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from jobpulse.cli.common import fail, load_or_exit
from jobpulse.extras import require
from jobpulse.status.db import redact_url

TOKEN_ENV = "JOBPULSE_STATUS_TOKEN"  # noqa: S105 - the name of a variable, not a secret
OPERATOR_TOKEN_ENV = "JOBPULSE_STATUS_OPERATOR_TOKEN"  # noqa: S105


def _token(path: Path | None, env: str) -> str | None:
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"cannot read token file {path}: {exc.strerror}")
        if not token:
            fail(f"token file {path} is empty")
        return token
    return os.environ.get(env) or None


@click.group("status")
def status_command() -> None:
    """The public status page of a spec's `status_page` section (see docs/status-page.md)."""


_storage = click.option(
    "--storage",
    default="status.db",
    show_default=True,
    help="A SQLite file, or a postgresql:// URL (needs the postgres extra). The schema is created and migrated.",
)


@status_command.command("serve")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@_storage
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File with the bearer token for the Alertmanager webhook and the operators' API (default: ${TOKEN_ENV}).",
)
@click.option(
    "--operator-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"A separate token for the operators' API (default: ${OPERATOR_TOKEN_ENV}, else the webhook's token).",
)
@click.option("--prometheus", "prometheus_url", default=None, help="Prometheus URL to read SLO attainment from.")
def serve_command(
    spec: Path,
    storage: str,
    host: str,
    port: int,
    token_file: Path | None,
    operator_token_file: Path | None,
    prometheus_url: str | None,
) -> None:
    """Serve SPEC's status page (the page, JSON, Statuspage's API v2, Atom, the webhook) until Ctrl-C."""
    uvicorn = require("uvicorn", extra="status", feature="jobpulse status serve")
    model = load_or_exit(spec)
    if model.status_page is None:
        fail(f"{spec} has no `status_page` section")
    token = _token(token_file, TOKEN_ENV)
    operator = _token(operator_token_file, OPERATOR_TOKEN_ENV)
    from jobpulse.status import StatusApp, StatusService

    try:
        service = StatusService(model, storage, prometheus_url=prometheus_url)
    except Exception as exc:
        fail(f"cannot open the status storage {redact_url(storage)}: {type(exc).__name__}: {exc}")
    if token is None:
        click.echo(
            f"jobpulse: no token (--token-file or ${TOKEN_ENV}): the webhook and the API refuse every write", err=True
        )
    app = StatusApp(service, token=token, operator_token=operator)
    page = model.status_page.path
    click.echo(f"status page: http://{host}:{port}{page}  (storage {redact_url(storage)})")
    try:
        uvicorn.run(_with_root_redirect(app, page), host=host, port=port, log_level="warning", lifespan="off")
    finally:
        service.close()


@status_command.command("migrate")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@_storage
def migrate_command(spec: Path, storage: str) -> None:
    """Create or upgrade the status page's schema (serve does this too) and exit."""
    model = load_or_exit(spec)
    if model.status_page is None:
        fail(f"{spec} has no `status_page` section")
    from jobpulse.status.db import SCHEMA_VERSION, open_database

    try:
        open_database(storage).close()
    except Exception as exc:
        fail(f"cannot migrate {redact_url(storage)}: {type(exc).__name__}: {exc}")
    click.echo(f"{redact_url(storage)}: schema version {SCHEMA_VERSION}")


def _with_root_redirect(app: Any, page: str) -> Any:
    """``/`` redirects to the page; everything else goes to the status app."""

    async def root(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/":
            await send({"type": "http.response.start", "status": 307, "headers": [(b"location", page.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return root
