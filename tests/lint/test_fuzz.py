"""hypothesis: random and mutated PromQL, YAML and JSON never crash the linter.

The linter either reports problems (each located and named) or refuses the input as a usage error
(LintInputError, SpecError); any other exception is a bug.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobpulse.lint.problem import Problem
from jobpulse.lint.registry import all_checks
from jobpulse.lint.runner import LintInputError, lint_text
from jobpulse.spec.errors import SpecError
from tests.lint.corpus import SEEDS
from tests.lint.util import catalogue, dashboard, panel, rules

#: JOBPULSE_FUZZ_EXAMPLES=3000 for a longer run
EXAMPLES = int(os.environ.get("JOBPULSE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOGUE = catalogue()
SEED_FILES = sorted(p for p in SEEDS.iterdir() if p.suffix in (".yml", ".yaml", ".json"))
SEED_QUERIES = [
    'sum by (outcome) (rate(http_requests_total{status="error"}[5m])) / ignoring(outcome) group_left sum(x)',
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[$__rate_interval])))",
    'absent(up{job="api"} == 1) or label_replace(queue_depth, "q", "$1", "queue", "(.*)") > 3',
    'count_values("v", topk(3, rate(http_requests_total[1m] offset 5m)))[10m:1m] @ 100 > bool on() vector(1)',
]
TOKENS = [
    "sum",
    "by",
    "(",
    ")",
    "le",
    "rate",
    "[5m]",
    "[30s:10s]",
    "http_requests_total",
    "queue_depth",
    "/",
    "*",
    ">",
    "== bool",
    "and",
    "or",
    "unless",
    "on(status)",
    "ignoring(le)",
    "group_left",
    '{status="ok"}',
    '{le=~"1.*"}',
    "histogram_quantile(",
    "0.9",
    ",",
    "absent(",
    "$__rate_interval",
    "$env",
    "offset 1h",
    "@ end()",
    "-",
    "topk(2,",
    "without (route)",
    'count_values("x",',
    "label_replace(",
    '"',
    "'",
    "`",
    "{",
    "}",
    "[",
    "]",
    "1e309",
    "NaN",
]
ERROR_TYPES = (LintInputError, SpecError)


def _check_problems(problems: list[Problem]) -> None:
    known = set(all_checks())
    for p in problems:
        assert p.check in known
        assert p.span.line >= 1 and p.span.column >= 1
        assert p.message


def _lint(text: str, file: str, **kwargs: object) -> None:
    try:
        problems, _ = lint_text(text, file, required=False, **kwargs)  # type: ignore[arg-type]
    except ERROR_TYPES:
        return
    _check_problems(problems)


def _mutate(data: st.DataObject, text: str) -> str:
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, max(0, len(text))))
        action = data.draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        chunk = data.draw(st.text(min_size=0, max_size=4)) if action != "delete" else ""
        if action == "insert":
            text = text[:where] + chunk + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + data.draw(st.integers(1, 5)) :]
        elif action == "replace":
            text = text[:where] + chunk + text[where + len(chunk) :]
        else:
            text = text[:where] + text[where : where + 20] + text[where:]
    return text


promql = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join),
    st.text(max_size=60),
    st.sampled_from(SEED_QUERIES),
)


@FUZZ
@given(expr=promql)
def test_random_promql_in_rules_and_dashboards(expr: str) -> None:
    _lint(rules(expr), "rules.yml", catalogue=CATALOGUE)
    _lint(rules(expr), "rules.yml")
    _lint(dashboard(panel(expr)), "d.json", catalogue=CATALOGUE)


@FUZZ
@given(data=st.data(), base=st.sampled_from(SEED_QUERIES))
def test_mutated_promql(data: st.DataObject, base: str) -> None:
    _lint(rules(_mutate(data, base)), "rules.yml", catalogue=CATALOGUE)


@FUZZ
@given(data=st.data(), path=st.sampled_from(SEED_FILES))
def test_mutated_seed_files(data: st.DataObject, path: Path) -> None:
    _lint(_mutate(data, path.read_text(encoding="utf-8")), path.name, catalogue=CATALOGUE)


SPEC_BASE = {
    "version": "jobpulse/v1",
    "service": {"name": "x"},
    "metrics": [{"name": "a_total", "type": "counter", "help": "h", "labels": {"s": {"values": ["ok"]}}}],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
shapes = st.sampled_from(
    [
        lambda v: {"groups": v},
        lambda v: {"groups": [{"name": "g", "rules": v}]},
        lambda v: {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up > 0", "labels": v}]}]},
        lambda v: {"panels": v, "title": "t"},
        lambda v: {"panels": [{"id": 1, "targets": v, "datasource": v}], "templating": v},
        lambda v: {"dashboard": {"panels": [v]}},
        lambda v: {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": v},
        lambda v: [{"type": "metric alert", "query": "avg(last_5m):x > 1", "options": v}],
        lambda v: {"monitors": [v]},
        lambda v: {"version": "jobpulse/v1", "service": {"name": "x"}, "metrics": v},
        lambda v: {**SPEC_BASE, "dashboards": [{"title": "d", "panels": [v]}]},
        lambda v: {**SPEC_BASE, "dashboards": [{"title": "d", "panels": [{"title": "p", "unit": "s", "expr": v}]}]},
        lambda v: {**SPEC_BASE, "alerts": [v]},
        lambda v: {**SPEC_BASE, "lint": v},
        lambda v: {**SPEC_BASE, "lint": {"allow": [v]}},
    ]
)


@FUZZ
@given(shape=shapes, value=json_values, as_json=st.booleans())
def test_random_documents(shape: object, value: object, as_json: bool) -> None:
    document = shape(value)  # type: ignore[operator]
    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    _lint(text, "doc.json" if as_json else "doc.yaml", catalogue=CATALOGUE)


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text(text: str) -> None:
    _lint(text, "random.yaml")
