"""Locks and the compaction journal: a scrape and a compaction never see each other half done.

Scrapes read under a shared ``flock``, the compactor swaps files under an exclusive one; the swap is journaled
first, so readers apply the journal's view and the next compaction rolls an interrupted swap forward.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobpulse.runtime.multiprocess.files import db_files

log = logging.getLogger("jobpulse.multiprocess")

READ_LOCK = ".jobpulse-read.lock"
COMPACT_LOCK = ".jobpulse-compact.lock"
JOURNAL = ".jobpulse-compaction.json"


@contextlib.contextmanager
def flock(path: Path, kind: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_journal(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / JOURNAL).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a torn journal cannot exist (it is renamed in), but never crash a scrape
        log.warning("unreadable compaction journal in %s: %s", directory, exc)
        return None
    return data


def visible_files(directory: Path) -> list[str]:
    """The ``*.db`` files a reader must merge: the directory's, as a finished compaction would leave them.

    Call with the read lock held. If a compactor died between journaling a swap and finishing it, the journal
    says which files were merged (excluded here) and which compacted files replace them (included, from their
    temporary names if not renamed yet) — so a crash never double counts or loses a sample.
    """
    files = db_files(directory)
    journal = _read_journal(directory)
    if journal is None:
        return files
    merged = {str(directory / name) for name in journal.get("delete", [])}
    present = set(files)
    out = [f for f in files if f not in merged]
    for tmp, final in journal.get("rename", {}).items():
        if str(directory / final) not in present and (directory / tmp).exists():
            out.append(str(directory / tmp))
    return out


def roll_forward(directory: Path, *, crash_after_renames: bool = False) -> None:
    """Finish an interrupted swap (exclusive read lock held): rename compacted files in, delete merged ones."""
    journal = _read_journal(directory)
    if journal is None:
        return
    for tmp, final in journal.get("rename", {}).items():
        with contextlib.suppress(FileNotFoundError):
            (directory / tmp).replace(directory / final)
    if crash_after_renames:
        return
    for name in journal.get("delete", []):
        (directory / name).unlink(missing_ok=True)
    _fsync_dir(directory)
    (directory / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_journal(directory: Path, journal: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".journal.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w") as out:
        json.dump(journal, out)
        out.flush()
        os.fsync(out.fileno())
    Path(tmp).replace(directory / JOURNAL)
    _fsync_dir(directory)
