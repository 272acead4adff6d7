"""Hostile YAML: alias bombs, deep nesting, huge files and bad tags are refused, located, fast and small.

Every case goes through the spec loader (``load_spec_text``, as ``Telemetry.from_file`` and ``jobpulse build``
read a spec) and through lint (``lint_text``, as ``jobpulse lint`` reads any file); both must refuse it with
``file:line:col`` — never a traceback, never minutes of CPU or gigabytes of memory.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.lint.runner import LintInputError, lint_text
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec, load_spec_text
from jobpulse.spec.yamlpos import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES
from tests.helpers import MINIMAL_SPEC, ROOT

SPEC_LINE = re.compile(r"^s\.yaml:(\d+):(\d+): error: ")
LINT_LINE = re.compile(r"^s\.yaml:(\d+):(\d+): ")


def _bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs" in YAML: each level is a list of ``width`` aliases to the previous one."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _spec_with(fragment: str) -> str:
    """MINIMAL_SPEC with ``fragment`` as the service's description (a place any value may go)."""
    return MINIMAL_SPEC.replace("  name: mini\n", "  name: mini\n  description: " + fragment + "\n", 1)


def _refused(text: str, *, memory_mb: float = 64, seconds: float = 5.0) -> tuple[str, str]:
    """Load and lint ``text``; both must refuse it, located, within the bounds. Returns both messages."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SpecError) as spec_error:
            load_spec_text(text, "s.yaml")
        with pytest.raises((LintInputError, SpecError)) as lint_error:
            lint_text(text, "s.yaml")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    spec_message = str(spec_error.value)
    lint_message = str(lint_error.value)
    assert SPEC_LINE.match(spec_message), spec_message
    assert LINT_LINE.match(lint_message), lint_message
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < memory_mb * 1e6, f"peak {peak / 1e6:.0f} MB"
    return spec_message, lint_message


def _position(message: str) -> tuple[int, int]:
    match = LINT_LINE.match(message)
    assert match is not None, message
    return int(match.group(1)), int(match.group(2))


# -- alias expansion ----------------------------------------------------------------------------------------
def test_the_billion_laughs_is_refused_before_it_expands() -> None:
    """9 levels of 9 aliases: 391 bytes that expand to 387 million strings (8-17 s, 671 MB on main before)."""
    text = _bomb()
    assert len(text) < 600
    spec_message, lint_message = _refused(text, memory_mb=16, seconds=2.0)
    assert f"more than {MAX_NODES:,} nodes" in spec_message
    assert "alias" in spec_message and "alias" in lint_message
    line, _ = _position(spec_message)
    assert 2 <= line <= 10  # the level where the expansion passes the bound, not 1:1


def test_a_bomb_inside_a_real_spec_is_refused_at_its_line() -> None:
    text = MINIMAL_SPEC + "x-anchors:\n" + "".join("  " + line + "\n" for line in _bomb(7, 8).splitlines())
    spec_message, _ = _refused(text, seconds=3.0)
    assert int(SPEC_LINE.match(spec_message).group(1)) > MINIMAL_SPEC.count("\n")  # type: ignore[union-attr]


def test_merge_keys_count_like_aliases() -> None:
    """``<<: [*m, *m]`` doubles a mapping at each level: a bomb through merge keys."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, 24):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}")
    _refused("\n".join(lines) + "\n", seconds=3.0)


def test_too_many_aliases() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    spec_message, lint_message = _refused(text)
    assert f"more than {MAX_ALIASES:,} aliases" in spec_message
    assert f"more than {MAX_ALIASES:,} aliases" in lint_message


def test_a_recursive_alias_stops() -> None:
    with pytest.raises(SpecError, match=r"^s\.yaml:\d+:\d+: error: "):
        load_spec_text(_spec_with("&a [*a, [*a]]"), "s.yaml")


def test_ordinary_anchors_still_work() -> None:
    text = MINIMAL_SPEC.replace(
        "queue: {values: [default, high]}\n      tenant", "queue: &q {values: [default, high]}\n      tenant", 1
    )
    text = text.replace("      queue: {values: [default, high]}\n      outcome", "      queue: *q\n      outcome", 1)
    assert "*q" in text
    spec = load_spec_text(text, "s.yaml")
    assert spec.metrics["jobs_done_total"].label("queue").values == frozenset({"default", "high"})  # type: ignore[union-attr]


# -- nesting ------------------------------------------------------------------------------------------------
DEPTHS = [MAX_DEPTH + 1, 999, 1_001, 1_500]


@pytest.mark.parametrize(
    ("kind", "depth"),
    [(kind, depth) for kind in ("flow-seq", "flow-map") for depth in [*DEPTHS, 100_000]]
    + [(kind, depth) for kind in ("block-map", "block-seq") for depth in DEPTHS],  # 1,500 levels: 2.3 MB
)
def test_deep_nesting_is_refused_where_it_passes_the_bound(depth: int, kind: str) -> None:
    if kind == "flow-seq":
        fragment = "[" * depth + "]" * depth
    elif kind == "flow-map":
        fragment = "{a: " * depth + "1" + "}" * depth
    elif kind == "block-seq":
        fragment = "\n" + "".join("  " * (i + 2) + "-\n" for i in range(depth))[:-1] + " x"
    else:
        fragment = "".join("\n" + "  " * (i + 2) + "a:" for i in range(depth)) + " 1"
    spec_message, lint_message = _refused(_spec_with(fragment), memory_mb=256, seconds=10.0)
    assert f"more than {MAX_DEPTH} levels" in spec_message, spec_message
    assert f"more than {MAX_DEPTH} levels" in lint_message or "maximum nesting depth" in lint_message, lint_message
    assert _position(spec_message) != (1, 1)
    assert _position(lint_message) != (1, 1)


def test_nesting_through_aliases_counts() -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 5)]
    spec_message, _ = _refused("\n".join(lines) + "\n")
    assert f"more than {MAX_DEPTH} levels" in spec_message


def test_real_nesting_is_far_below_the_bound() -> None:
    """The deepest file in the repository (a vendored CRD schema) nests 21 levels."""
    lint_text(
        (ROOT / "tests/fixtures/k8s/monitoring.coreos.com_podmonitors.yaml").read_text(), "crd.yaml", required=False
    )


# -- size ---------------------------------------------------------------------------------------------------
def test_a_spec_over_the_size_limit_is_refused_quickly(tmp_path: Path) -> None:
    big = MINIMAL_SPEC + "# " + "x" * 100 + "\n"
    text = big * (MAX_BYTES // len(big) + 2)
    spec_message, lint_message = _refused(text, memory_mb=200, seconds=5.0)
    assert "MiB" in spec_message and "MiB" in lint_message
    path = tmp_path / "huge.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"huge\.yaml:\d+:\d+: error: .*larger than"):
        load_spec(path)


def test_the_size_limit_is_not_read_into_memory(tmp_path: Path) -> None:
    """A file far over the limit (a sparse 2 GB one here) is refused without reading it whole."""
    path = tmp_path / "sparse.yaml"
    with path.open("wb") as handle:
        handle.write(MINIMAL_SPEC.encode())
        handle.truncate(2 * 1024**3)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match="larger than"):
            load_spec(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_BYTES * 4


# -- tags and scalars ---------------------------------------------------------------------------------------
BAD_SCALARS = [
    "!!int abc",
    "!!int 0x",
    "!!float .nanx",
    "!!float abc",
    "!!timestamp abc",
    "!!timestamp 2024-13-45",
    "!!timestamp 2024-02-30T25:61:00Z",
    "!!bool maybe",
    "!!binary '@@@'",
    "!!null x",
    "!!int " + "9" * 5_000,
    "9" * 5_000,  # an implicit int past Python's 4,300-digit limit for int()
    "!!python/object:os.system {}",
    "!!python/name:os.system ''",
    "!!set [1]",
    "!!omap [a]",
    "!!pairs 1",
    "!unknown x",
    "!<tag:example.com,2024:x> y",
]


@pytest.mark.parametrize("fragment", BAD_SCALARS)
def test_bad_tagged_scalars_are_located_errors(fragment: str) -> None:
    line = MINIMAL_SPEC.count("\n", 0, MINIMAL_SPEC.index("  name: mini")) + 2
    for text in (_spec_with(fragment), f"version: {fragment}\n", f"? {fragment}\n: 1\n"):
        try:
            load_spec_text(text, "s.yaml")
        except SpecError as exc:
            assert SPEC_LINE.match(str(exc)), str(exc)
            if text.startswith("version: jobpulse"):
                assert int(SPEC_LINE.match(str(exc)).group(1)) == line  # type: ignore[union-attr]
        else:
            pytest.fail(f"{text!r} loaded")
        try:
            lint_text(text, "s.yaml", required=False)
        except (LintInputError, SpecError) as exc:
            assert LINT_LINE.match(str(exc)) or SPEC_LINE.match(str(exc)), str(exc)


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}", "*k", "!!binary aGk="])
def test_complex_keys_are_refused(key: str) -> None:
    text = "k: &k [1]\n" + MINIMAL_SPEC.replace("  name: mini\n", f"  name: mini\n  ? {key}\n  : 1\n", 1)
    with pytest.raises(SpecError, match=r"^s\.yaml:\d+:\d+: error: "):
        load_spec_text(text, "s.yaml")


# -- the CLI: exit 2, one located line, no traceback ----------------------------------------------------------
CLI_CASES = {
    "alias-bomb": _bomb(),
    "deep": _spec_with("[" * 2_000 + "]" * 2_000),
    "int": _spec_with("!!int abc"),
    "timestamp": _spec_with("!!timestamp 2024-13-45"),
    "float": _spec_with("!!float .nanx"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
@pytest.mark.parametrize("command", ["build", "lint"])
def test_cli_exits_2_with_a_located_message(tmp_path: Path, case: str, command: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(CLI_CASES[case])
    args = [command, str(spec), *(["-o", str(tmp_path / "out")] if command == "build" else [])]
    result = CliRunner().invoke(cli, args, terminal_width=120)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert re.search(rf"{re.escape(str(spec))}:\d+:\d+: ", result.output), result.output
    assert not (tmp_path / "out").exists()


def test_a_real_build_process_refuses_an_alias_bomb_in_seconds(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(_bomb())
    jobpulse = Path(sys.executable).with_name("jobpulse")
    started = time.perf_counter()
    done = subprocess.run(
        [str(jobpulse), "build", str(spec), "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120
    )
    assert time.perf_counter() - started < 60
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert re.fullmatch(rf"{re.escape(str(spec))}:\d+:\d+: error: .*alias bomb.*\n", done.stderr), done.stderr
