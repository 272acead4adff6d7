"""Shared CLI helpers: error lines never carry a URL's password."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.verify.servers import free_port
from tests.helpers import PREVIEW_SPEC


def test_an_error_line_never_shows_a_url_password() -> None:
    url = f"http://admin:p@ss/w0rd@127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(cli, ["lint", str(PREVIEW_SPEC), "--online", url])
    assert result.exit_code == 2, result.output
    assert "p@ss" not in result.output and "w0rd" not in result.output
    assert "admin:***@127.0.0.1" in result.output


def test_status_storage_names_hide_the_password(tmp_path: Path) -> None:
    from jobpulse.status.db import redact_url

    assert redact_url("postgresql://:pw/1@db:5432/status") == "postgresql://:***@db:5432/status"
    assert redact_url(tmp_path / "status.db") == str(tmp_path / "status.db")
