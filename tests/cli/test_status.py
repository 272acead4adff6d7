"""``jobpulse status serve`` and ``migrate`` as a user runs them: a real process, killed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.verify.servers import ServerStartError, free_port, wait_for
from tests.status.helpers import SPEC, TOKEN, alert, payload, write_spec

BIN = Path(sys.executable).parent / "jobpulse"


@contextmanager
def serving(spec: Path, storage: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "JOBPULSE_STATUS_TOKEN": TOKEN}
    process = subprocess.Popen(
        [str(BIN), "status", "serve", str(spec), "--storage", str(storage), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def up() -> bool:
            if process.poll() is not None:  # it exited: no point waiting
                raise ServerStartError(f"jobpulse status serve exited with {process.returncode}")
            return httpx.get(f"http://127.0.0.1:{port}/status/api/v2/status.json").status_code == 200

        wait_for(up, timeout=60)  # the CLI's imports take a while on a loaded machine
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def test_serve_keeps_incidents_across_a_kill_and_restart(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    storage = tmp_path / "data" / "status.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(spec, storage, port) as process:
        assert httpx.get(url + "/").headers["location"] == "/status"
        hook = httpx.post(
            url + "/status/webhook/alertmanager", json=payload(alert()), headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert hook.json()["action"] == "opened"
        denied = httpx.post(url + "/status/webhook/alertmanager", json=payload(alert("ApiSlow")))
        assert denied.status_code == 401
        process.send_signal(signal.SIGKILL)
    with serving(spec, storage, port):
        [incident] = httpx.get(url + "/status/incidents").json()["incidents"]
        assert incident["id"] == hook.json()["incident_id"]
        assert "ApiDown summary" in httpx.get(url + "/status").text


def test_serve_refuses_a_spec_without_a_status_page(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.split("status_page:")[0])
    result = CliRunner().invoke(cli, ["status", "serve", str(spec)])
    assert result.exit_code == 2 and "has no `status_page` section" in result.output


def test_serve_reports_spec_errors_with_their_location(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("alerts: [JobsFailing]", "alerts: [JobFailing]"))
    result = CliRunner().invoke(cli, ["status", "serve", str(spec)])
    assert result.exit_code == 2
    assert (
        "jobpulse.yaml:54:16: error: status_page.components[1].alerts[0]: unknown alert 'JobFailing'" in result.output
    )


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = CliRunner().invoke(cli, ["status", "migrate", str(spec), "--storage", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    assert "schema version 2" in result.output
    bad = CliRunner().invoke(cli, ["status", "migrate", str(spec), "--storage", "postgresql://u:hunter2@127.0.0.1:1/x"])
    assert bad.exit_code == 2 and "hunter2" not in bad.output and "u:***@" in bad.output
