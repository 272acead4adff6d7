"""Compaction: the files of dead processes merged into one compacted file per kind, swapped in under the journal."""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jobpulse.runtime.multiprocess.files import COMPACTED, DbFile, db_files, parse_name
from jobpulse.runtime.multiprocess.journal import COMPACT_LOCK, JOURNAL, READ_LOCK, flock, roll_forward, write_journal
from jobpulse.runtime.multiprocess.merge import MERGED_GAUGES, merge_values, mergeable, write_db
from jobpulse.runtime.multiprocess.setup import directory_of


@dataclass
class CompactionResult:
    """What one :func:`compact` call did."""

    generation: int | None = None
    merged_files: int = 0
    dropped_files: int = 0  # live* gauge files of dead processes
    kept_files: int = 0  # gauge "all" files of dead processes (their pid label comes from the file name)
    dead_pids: set[int] = field(default_factory=set)
    compacted_files: list[str] = field(default_factory=list)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (pid namespace)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def compact(
    directory: str | Path | None = None,
    *,
    dead: Iterable[int] | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
    min_files: int = 1,
    _crash: str | None = None,
) -> CompactionResult:
    """Merge the ``*.db`` files of dead processes into one compacted file per kind; returns what it did.

    A process counts as dead when its pid is in ``dead`` or ``is_alive(pid)`` is false (``os.kill(pid, 0)``:
    the directory must belong to one host and one pid namespace, as prometheus_client requires anyway). The
    caller's own pid is never compacted. Nothing happens below ``min_files`` dead files.
    """
    path = directory_of(directory)
    result = CompactionResult()
    own = os.getpid()
    dead_set = set(dead or ())
    with flock(path / COMPACT_LOCK, fcntl.LOCK_EX):
        if (path / JOURNAL).exists():
            with flock(path / READ_LOCK, fcntl.LOCK_EX):
                roll_forward(path)
        else:  # compacted files written by a compactor that died before journaling them: never visible
            for stray in path.glob(f"*_{COMPACTED}*.db.tmp"):
                stray.unlink(missing_ok=True)
        files = [f for f in (parse_name(p) for p in db_files(path)) if f is not None]
        generations = [g for g in (f.generation for f in files) if g is not None]
        by_prefix: dict[str, list[DbFile]] = defaultdict(list)
        drop: list[DbFile] = []
        for f in files:
            pid = f.pid
            if pid is None or pid == own or (pid not in dead_set and is_alive(pid)):
                continue
            result.dead_pids.add(pid)
            if f.kind == "gauge" and f.mode.startswith("live"):
                drop.append(f)
            elif f.kind == "gauge" and f.mode not in MERGED_GAUGES:
                result.kept_files += 1
            else:
                by_prefix[f.prefix].append(f)
        candidates = sum(len(v) for v in by_prefix.values()) + len(drop)
        if candidates < min_files or candidates == 0:
            return result
        generation = max(generations, default=0) + 1
        renames: dict[str, str] = {}
        delete: list[str] = [Path(f.path).name for f in drop]
        for prefix, group in sorted(by_prefix.items()):
            previous = [f for f in files if f.prefix == prefix and f.generation is not None]
            group = [f for f in group if mergeable(f.path)]
            sources = previous + group
            kind, _, mode = prefix.partition("_")
            entries = merge_values(kind, mode, [f.path for f in sources])
            final = f"{prefix}_{COMPACTED}{generation:06d}.db"
            # "<final>.tmp": invisible to the *.db glob, yet named so that a reader applying the journal
            # parses its kind and gauge mode from it like from the final name
            tmp = f"{final}.tmp"
            write_db(path / tmp, entries)
            renames[tmp] = final
            delete += [Path(f.path).name for f in sources]
            result.merged_files += len(group)
            result.compacted_files.append(final)
        result.dropped_files = len(drop)
        result.generation = generation
        write_journal(path, {"generation": generation, "rename": renames, "delete": delete})
        if _crash == "journal":  # for tests: what a crash right after journaling leaves behind
            return result
        with flock(path / READ_LOCK, fcntl.LOCK_EX):
            roll_forward(path, crash_after_renames=_crash == "renames")
    return result
