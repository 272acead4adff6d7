"""The build directory survives any kill (issue 18, item 5): renameat2(RENAME_EXCHANGE) where the OS has it, a
symlink flip elsewhere, and what killed runs leave is cleaned by the next run.

Before: a kill between renaming ``out`` away and renaming the new build in left no output directory (2 of 100
random kills), and 34 of 100 kills left ``.out.tmp-*``/``.out.old-*`` directories behind for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobpulse.render import atomic
from jobpulse.render.atomic import absolute, exchange, replace_dir, strays
from jobpulse.render.files import write_tree

ROOT = Path(__file__).resolve().parents[2]
MODES = ["exchange", "flip"]
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill tests fork")


def run(scenario: str, directory: Path, mode: str, count: int = 0) -> dict[str, Any]:
    if mode == "exchange" and atomic._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    done = subprocess.run(
        [sys.executable, "-m", "tests.render.kill_builds", scenario, str(directory), mode, str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def assert_cleaned(result: dict[str, Any], mode: str) -> None:
    """After the killed runs, one more build: complete, and nothing of the killed runs left beside it."""
    assert result["final"] == {"out": "v999999"}
    assert result["leftovers"] == [], "the next run removes what killed runs left"
    assert result["symlink"] is (mode == "flip")


@pytest.mark.parametrize("mode", MODES)
def test_a_kill_before_any_step_of_the_swap_leaves_a_whole_build(tmp_path: Path, mode: str) -> None:
    result = run("steps", tmp_path, mode)
    records = result["records"]
    killed = [r for r in records if r["killed"]]
    assert len(killed) >= 4, records  # the swap has steps to be killed at
    current = "v1"
    for record in records:
        if record["out"] is None:
            # flip mode only, the first time: a real directory becomes a symlink, which cannot be one step; the
            # old build is kept whole beside it and renamed back by the next run
            assert mode == "flip" and record["old"] == [current], record
        else:
            assert record["out"] in (current, record["new"]), record  # never torn: the old build or the new
            current = record["out"]
    # kills before the swap leave the old build, after it the new one: both sides were hit
    assert {r["out"] == r["new"] for r in killed} == {True, False}
    if mode == "exchange":
        assert all(r["out"] is not None for r in records)
    assert_cleaned(result, mode)


@pytest.mark.parametrize("mode", MODES)
def test_random_kills_never_leave_a_torn_or_missing_build(tmp_path: Path, mode: str) -> None:
    result = run("random", tmp_path, mode, 30)
    records = result["records"]
    assert len(records) == 30
    outs = [r["out"] for r in records]
    if mode == "flip":  # the one non-atomic step (the first build that makes the symlink) may be hit once
        outs = [o for o, r in zip(outs, records, strict=True) if not (o is None and len(r["old"]) == 1)]
    assert all(o is not None and o.startswith("v") for o in outs), records
    assert_cleaned(result, mode)


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_builds_take_turns(tmp_path: Path, mode: str) -> None:
    result = run("concurrent", tmp_path, mode, 4)
    assert result["exit_codes"] == [0, 0, 0, 0]
    assert result["records"][0]["out"].startswith("v")
    assert_cleaned(result, mode)


def test_strays_of_killed_runs_are_removed_and_an_interrupted_migration_undone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for name in (".out.tmp-abc", ".out.build-old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("stray")
    (tmp_path / ".out.old-1").mkdir()
    (tmp_path / ".out.old-1" / "kept").write_text("the previous build")
    (tmp_path / ".out.lnk-1").symlink_to(".out.build-old")
    (tmp_path / "unrelated").mkdir()
    assert [p.name for p in strays(out)] == [".out.build-old", ".out.lnk-1", ".out.old-1", ".out.tmp-abc"]
    seen: list[str] = []
    replace_dir(out, lambda staging: seen.append((out / "kept").read_text()) or (staging / "new").write_text("n"))
    assert seen == ["the previous build"]  # the interrupted migration was undone before the build
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "unrelated"]
    assert (out / "new").read_text() == "n"


def test_exchange_swaps_two_directories(tmp_path: Path) -> None:
    if atomic._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    assert exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not any((tmp_path / "a").iterdir())
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "missing", tmp_path / "b")


def test_a_symlinked_output_stays_a_symlink_and_its_paths_are_returned_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_renameat2", None)
    out = tmp_path / "out"
    write_tree({"a.txt": b"1"}, out, ".m", "m")
    write_tree({"a.txt": b"2"}, out, ".m", "m")  # a real directory becomes a symlink
    written = write_tree({"a.txt": b"3"}, out, ".m", "m")  # and is flipped
    assert out.is_symlink() and written == [absolute(out) / "a.txt"] and written[0].read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", str(out.readlink())])
