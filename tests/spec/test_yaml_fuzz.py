"""hypothesis: thousands of hostile specs — aliases, nesting, tags, keys, sizes — through the loader AND lint.

Each generated text is loaded as a spec (``load_spec_text``: what ``Telemetry.from_file`` and ``jobpulse build``
do) and linted (``lint_text``: what ``jobpulse lint`` does). Allowed outcomes: a loaded spec, a ``SpecError``
whose every line is ``file:line:col: error: ...``, lint problems, or a ``LintInputError`` naming
``file:line:col``. Anything else (a traceback) fails, and so does a case that takes longer than
:data:`CASE_SECONDS`.

``JOBPULSE_FUZZ_EXAMPLES=5000`` runs more cases per test (the default keeps ``make test`` quick).
"""

from __future__ import annotations

import os
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobpulse.lint.runner import LintInputError, lint_text
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec_text
from jobpulse.spec.yaml_limits import MAX_BYTES, MAX_DEPTH

EXAMPLES = int(os.environ.get("JOBPULSE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    database=None,
)
#: CPU seconds per case (load + lint; CPU time, so that other processes on a shared machine do not count): a case
#: takes milliseconds, one just inside the bounds (100,000 nodes after aliases) about a second; the alias bomb
#: took 20 s before it was bounded.
CASE_SECONDS = 5.0
#: A small valid spec: the hostile part is what is generated, and a small spec keeps each case at milliseconds.
BASE = """\
version: jobpulse/v1
service:
  name: fuzz
metrics:
  - name: jobs_total
    type: counter
    help: Jobs enqueued.
    labels:
      queue: {values: [default, high]}
      tenant: {max_values: 3}
"""
SPEC_LINE = re.compile(r"^f\.yaml:\d+:\d+: error: ", re.MULTILINE)
LINT_INPUT = re.compile(r"^f\.yaml:\d+:\d+: ")

TAGS = [
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!timestamp",
    "!!binary",
    "!!seq",
    "!!map",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!merge",
    "!!value",
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!python/tuple",
    "!local",
    "!<tag:example.com,2024:x>",
    "!",
]
SCALARS = [
    "abc",
    "",
    "0x",
    "0o9",
    "0b2",
    ".nanx",
    ".inf",
    "-.INF",
    "1e400",
    "9" * 4_400,
    "2024-13-45",
    "2024-02-30T25:61:00Z",
    "2024-01-01 10:00:00 +99:99",
    "maybe",
    "@@@",
    "aGk=",
    "~",
    "null",
    "<<",
    "=",
    "'quoted'",
    '"\\x00\\ud800"',
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
]


class Fragment(str):
    """A generated fragment whose repr stays short (hypothesis prints failing examples)."""

    def __repr__(self) -> str:
        head = str.__repr__(str(self[:100]))
        return head if len(self) <= 100 else f"{head}+{len(self) - 100} chars"


def _bomb(levels: int, width: int) -> str:
    lines = ["  l0: &l0 [lol, lol, lol]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n" + "\n".join(lines)


def _merge_bomb(levels: int) -> str:
    lines = ["  m0: &m0 {a: 1, b: 2}"]
    lines += [f"  m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, levels + 1)]
    return "\n" + "\n".join(lines)


def _nested(kind: str, depth: int) -> str:
    if kind == "flow-seq":
        return "[" * depth + "]" * depth
    if kind == "flow-map":
        return "{a: " * depth + "1" + "}" * depth
    if kind == "block-seq":
        return "".join("\n" + "  " * (i + 1) + "-" for i in range(depth)) + " x"
    return "".join("\n" + "  " * (i + 1) + "a:" for i in range(depth)) + " 1"


aliases = st.one_of(
    st.builds(_bomb, st.integers(1, 12), st.integers(1, 12)),
    st.builds(_merge_bomb, st.integers(1, 30)),
    st.sampled_from(["&a [*a]", "&a {k: *a}", "*undefined", "&a &b x", "&a x", "[&a x, *a, *a]", "{<<: *a}"]),
    # many aliases (the bound itself, MAX_ALIASES, is tested in test_yamlpos.py: 40 kB of YAML per case)
    st.integers(1, 500).map(lambda n: "&a x\n  b: [" + ", ".join(["*a"] * n) + "]"),
)
nesting = st.builds(
    _nested,
    st.sampled_from(["flow-seq", "flow-map", "block-seq", "block-map"]),
    st.one_of(st.integers(1, MAX_DEPTH + 3), st.integers(MAX_DEPTH + 3, 1_200)),
)
tagged = st.builds(
    lambda tag, value: f"{tag} {value}",
    st.sampled_from(TAGS),
    st.one_of(st.sampled_from(SCALARS), st.text(max_size=12).map(lambda t: repr(t)[1:-1])),
)
keys = st.sampled_from(
    [
        "\n  ? [a, b]\n  : 1",
        "\n  ? {a: 1}\n  : 1",
        "\n  ? !!int abc\n  : 1",
        "\n  ~: 1",
        "\n  a: 1\n  a: 2",
        "\n  1.5: x\n  true: y",
        "\n  ? " + "k" * 2_000 + "\n  : 1",
    ]
)
sizes = st.one_of(
    st.integers(1, 500).map(lambda n: "[" + ", ".join(["x"] * n) + "]"),
    st.integers(1, 200).map(lambda n: "'" + "long text " * n * 10 + "'"),
    st.just("x" * (MAX_BYTES + 1)),
    st.just("'" + "é" * (MAX_BYTES // 2 + 1) + "'"),  # under the limit in characters, over it in bytes
)
noise = st.text(alphabet=st.sampled_from(list("[]{}:-,&*!|>'\"#%@`?\n\t x0\x00\ufeff\u2028")), max_size=40)
fragments = st.one_of(aliases, nesting, tagged, keys, sizes, noise).map(Fragment)


def _place(where: str, fragment: str, base: str = BASE) -> str:
    """``fragment`` at one of the places a hostile spec could put it."""
    if where == "description":
        return base.replace("  name: fuzz\n", "  name: fuzz\n  description: " + fragment + "\n", 1)
    if where == "top-level":
        return base + "x-extra: " + fragment + "\n"
    if where == "label-values":
        return base.replace("queue: {values: [default, high]}", "queue: {values: " + fragment + "}", 1)
    if where == "version":
        return base.replace("version: jobpulse/v1", "version: " + fragment, 1)
    if where == "second-document":
        return base + "---\n" + fragment + "\n"
    return fragment if base is BASE else base + fragment


places = st.sampled_from(["description", "top-level", "label-values", "version", "second-document", "alone"])


def _check(text: str) -> None:
    """Load and lint ``text``: only located errors, within the time bound (memory: tests/spec/test_yamlpos.py)."""
    text = str(text)
    started = time.process_time()
    try:
        load_spec_text(text, "f.yaml")
    except SpecError as exc:
        assert exc.problems
        for line in str(exc).splitlines():
            assert SPEC_LINE.match(line), line
    try:
        problems, _ = lint_text(text, "f.yaml", required=False)
    except LintInputError as exc:
        assert LINT_INPUT.match(str(exc)), str(exc)
    except SpecError as exc:
        for line in str(exc).splitlines():
            assert SPEC_LINE.match(line), line
    else:
        assert all(p.span.line >= 1 and p.span.column >= 1 and p.message for p in problems)
    elapsed = time.process_time() - started
    assert elapsed < CASE_SECONDS, f"{elapsed:.1f} CPU seconds for {text[:200]!r}"


@FUZZ
@given(where=places, fragment=st.one_of(aliases, keys).map(Fragment))
def test_aliases_and_keys(where: str, fragment: str) -> None:
    _check(_place(where, fragment))


@FUZZ
@given(where=places, fragment=nesting.map(Fragment))
def test_nesting(where: str, fragment: str) -> None:
    _check(_place(where, fragment))


@FUZZ
@given(where=places, fragment=st.one_of(tagged, sizes).map(Fragment))
def test_tags_and_sizes(where: str, fragment: str) -> None:
    _check(_place(where, fragment))


@FUZZ
@given(parts=st.lists(st.tuples(places, fragments), min_size=1, max_size=3))
def test_combinations(parts: list[tuple[str, str]]) -> None:
    text = BASE
    for where, fragment in parts:
        text = _place(where, fragment, text)
    _check(text)
