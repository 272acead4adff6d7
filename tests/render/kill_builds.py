"""Builds killed with SIGKILL, for tests/render/test_atomic.py: one process imports jobpulse once and forks a
child per build, so tens of kills cost milliseconds each.

``python -m tests.render.kill_builds SCENARIO DIR MODE [COUNT]`` prints one JSON object: what the output
directory held after each kill, and what was left beside it after one more (unkilled) build.

- ``steps``: the child is killed just before its Nth file-system step (a directory made, a rename, an exchange,
  a symlink, a tree removed), for N = 1, 2, ... until a build runs to its end; twice, so that the second pass
  starts from what the first left (in ``flip`` mode, the output is then a symlink).
- ``random``: a child builds new versions in a loop and is killed at a random moment, COUNT times.
- ``concurrent``: COUNT children build into the same output at once, each several times.

MODE ``exchange`` uses renameat2(RENAME_EXCHANGE); ``flip`` hides it, as on a system without it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jobpulse.render import atomic
from jobpulse.render.files import write_tree

FILES = 40
MARKER = ".marker"


def tree(version: int) -> dict[str, bytes]:
    return {f"d{i % 4}/f{i}.txt": f"v{version}\n".encode() for i in range(FILES)}


def describe(directory: Path) -> str:
    """``v<N>`` for a complete build of version N, else ``torn``."""
    try:
        files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
        if files != sorted([*tree(0), MARKER]):
            return "torn"
        versions = {(directory / name).read_text().strip() for name in tree(0)}
    except OSError:
        return "torn"
    return versions.pop() if len(versions) == 1 else "torn"


def state(out: Path) -> dict[str, Any]:
    if out.exists():
        return {"out": describe(out)}
    return {"out": None, "old": [describe(p) for p in out.parent.glob(f".{out.name}.old-*")]}


def leftovers(out: Path) -> list[str]:
    """Everything beside ``out`` in its directory, except the versioned directory ``out`` points at."""
    keep = {out.name, str(out.readlink()) if out.is_symlink() else ""}
    return sorted(p.name for p in out.parent.iterdir() if p.name not in keep)


def set_mode(mode: str) -> None:
    if mode == "flip":
        atomic._renameat2 = None


def kill_before_step(n: int) -> None:
    """Count the file-system steps of a build; SIGKILL this process just before the nth."""
    count = 0

    def step(function: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            if count == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return function(*args, **kwargs)

        return wrapped

    for name in ("rename", "replace", "symlink_to", "rmdir", "unlink"):
        setattr(Path, name, step(getattr(Path, name)))
    shutil.rmtree = step(shutil.rmtree)  # type: ignore[assignment]
    tempfile.mkdtemp = step(tempfile.mkdtemp)  # type: ignore[assignment]
    atomic.exchange = step(atomic.exchange)  # type: ignore[assignment]


def in_child(target: Any) -> bool:
    """Run ``target()`` in a forked child; True when the child was killed."""
    pid = os.fork()
    if pid == 0:
        try:
            target()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def build(out: Path, version: int) -> None:
    write_tree(tree(version), out, MARKER, "test build\n")


def steps(out: Path, mode: str) -> dict[str, Any]:
    set_mode(mode)
    build(out, 1)
    version, records = 1, []
    for _ in range(2):
        n = 1
        while True:
            version += 1

            def run(n: int = n, version: int = version) -> None:
                kill_before_step(n)
                build(out, version)

            killed = in_child(run)
            records.append({"step": n, "killed": killed, "new": f"v{version}", **state(out)})
            if not killed:
                break
            n += 1
    return {"records": records}


def random_kills(out: Path, mode: str, count: int) -> dict[str, Any]:
    set_mode(mode)
    build(out, 0)
    rng = random.Random(18)
    records = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            version = 1000 * (i + 1)
            while True:
                version += 1
                build(out, version)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        records.append(state(out))
    return {"records": records}


def concurrent(out: Path, mode: str, count: int) -> dict[str, Any]:
    set_mode(mode)
    pids = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                for j in range(10):
                    build(out, 100 * i + j)
            finally:
                os._exit(0)
        pids.append(pid)
    codes = [os.waitpid(pid, 0)[1] for pid in pids]
    return {"records": [state(out)], "exit_codes": codes}


def main() -> None:
    scenario, directory, mode = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    out = Path(directory) / "out"
    if scenario == "steps":
        result = steps(out, mode)
    elif scenario == "random":
        result = random_kills(out, mode, count)
    else:
        result = concurrent(out, mode, count)
    build(out, 999_999)  # one more, unkilled: it cleans up what the killed ones left
    result["final"] = state(out)
    result["leftovers"] = leftovers(out)
    result["symlink"] = out.is_symlink()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
