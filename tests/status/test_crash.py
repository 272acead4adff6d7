"""A status service killed mid-write (SIGKILL) loses nothing it acknowledged, and its database stays consistent."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from jobpulse.status.store import StatusStore
from tests.status.helpers import SPEC, spec

WRITER = """
import sys, time
from jobpulse.spec.load import load_spec_text
from jobpulse.status.store import StatusStore
from jobpulse.status.webhook import WebhookPayload
from tests.status.helpers import alert, payload

store = StatusStore.open(sys.argv[2], load_spec_text(open(sys.argv[1]).read(), "shop.yaml").status_page)
n = 0
while True:  # one new group per delivery: each opens an incident, the next resolves the one before
    starts = f"2026-12-06T10:{n // 60 % 60:02d}:{n % 60:02d}Z"
    fired = alert("ApiDown", starts=starts, instance=f"i{n}")
    opened = store.apply_alertmanager(WebhookPayload.model_validate(payload(fired, group_key=f"g{n}")))
    if n:
        before = alert("ApiDown", starts=previous, instance=f"i{n - 1}", status="resolved")
        store.apply_alertmanager(WebhookPayload.model_validate(payload(before, group_key=f"g{n - 1}")))
    print(opened.incident_id, flush=True)  # acknowledged: committed
    previous = starts
    n += 1
"""


def test_a_killed_writer_loses_no_acknowledged_incident(tmp_path: Path) -> None:
    spec_file = tmp_path / "shop.yaml"
    spec_file.write_text(SPEC)
    db = tmp_path / "status.db"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(spec_file), str(db)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    acknowledged: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    process.send_signal(signal.SIGKILL)  # in the middle of the next transaction, most likely
    process.wait(10)
    process.stdout.close()
    assert len(acknowledged) == 40, "the writer did not get going"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    page = spec().status_page
    assert page is not None
    store = StatusStore.open(db, page)
    try:
        known = {i.id for i in store.unresolved()} | {i.id for i in store.history(0, limit=1000)}
        assert set(acknowledged) <= known
        open_now = store.unresolved()
        # each delivery pair is one transaction each: at most the last two incidents are still open
        assert 1 <= len(open_now) <= 2
        for incident in store.history(0, limit=1000):
            assert [u.status for u in incident.updates] == ["resolved", "investigating"]
            assert json.dumps(incident.components) == '{"api": "major_outage"}'
    finally:
        store.close()


def test_the_schema_is_migrated_from_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    page = spec().status_page
    assert page is not None
    store = StatusStore.open(tmp_path / "empty.db", page)
    assert store.unresolved() == []
    store.close()
