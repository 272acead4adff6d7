"""Property tests: any text, valid or not, loads or fails with a located SpecError — never a crash."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec_text, query_problems
from tests.helpers import MINIMAL_SPEC, PREVIEW_SPEC

BASE = PREVIEW_SPEC.read_text()
LOCATED = re.compile(r"^spec\.yaml:\d+:\d+: error: ", re.MULTILINE)


def _load(text: str) -> None:
    try:
        load_spec_text(text, "spec.yaml")
    except SpecError as exc:
        assert exc.problems
        for line in str(exc).splitlines():
            assert LOCATED.match(line), line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    _load(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_spec(data: st.DataObject) -> None:
    text = BASE
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["delete", "insert", "duplicate-line", "swap"]))
        if kind == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 20)) :]
        elif kind == "insert":
            text = (
                text[:pos]
                + data.draw(st.sampled_from([":", "- ", "{", "]", "\t", "  ", "'", "x", "\n", "0"]))
                + text[pos:]
            )
        elif kind == "duplicate-line":
            lines = text.splitlines(keepends=True)
            i = pos % len(lines)
            lines.insert(i, lines[i])
            text = "".join(lines)
        else:
            lines = text.splitlines(keepends=True)
            i = pos % (len(lines) - 1)
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            text = "".join(lines)
    _load(text)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(["service", "metrics", "jobs", "alerts", "dashboards", "tests"]), value=yaml_values)
def test_any_value_under_a_top_level_key(key: str, value: object) -> None:
    import yaml

    data = yaml.safe_load(MINIMAL_SPEC)
    data[key] = value
    _load(yaml.safe_dump(data))


promql_tokens = st.sampled_from(
    [
        "sum",
        "rate",
        "(",
        ")",
        "[5m]",
        "{",
        "}",
        "jobs_total",
        "queue_depth",
        "job_seconds_bucket",
        "by",
        "le",
        "queue",
        "=",
        '"default"',
        ",",
        "/",
        ">",
        "0.5",
        "histogram_quantile",
        "without",
        "on",
        "ignoring",
        "$__rate_interval",
        "offset",
        "@",
        "and",
        "or",
        "unless",
        "abs",
        "-",
        "1e3",
        "topk",
        "[",
        "]",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(promql_tokens, max_size=15))
def test_query_checks_never_crash(tokens: list[str]) -> None:
    spec = load_spec_text(MINIMAL_SPEC, "spec.yaml")
    problems = query_problems(" ".join(tokens), spec.series_index(), spec.service.target_labels)
    assert all(isinstance(p, str) and p for p in problems)
