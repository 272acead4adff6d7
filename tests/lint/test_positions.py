"""Problems point inside queries: block scalars, quoted strings and JSON strings."""

from __future__ import annotations

import json

from tests.lint.util import dashboard, found, lint, panel


def test_block_scalar_token_is_located_on_its_own_line() -> None:
    text = """\
groups:
  - name: g
    rules:
      - alert: A
        expr: |
          sum(rate(http_requests_total[5m]))
            /
          sum(rate(http_request_total[5m])) > 1
        for: 5m
"""
    (problem,) = found(lint(text), "promql/series")
    assert (problem.line, problem.column) == (8, 20)
    assert problem.span.end_column == 20 + len("http_request_total")


def test_json_string_token_is_located_in_the_line() -> None:
    text = dashboard(panel("sum(rate(http_requests_total[5m]))"))
    (problem,) = found(lint(text, "d.json"), "dashboard/rate_interval")
    line = text.splitlines()[problem.line - 1]
    assert line[problem.column - 1 :].startswith("[5m]")


def test_the_nth_occurrence_is_located() -> None:
    text = dashboard(panel("sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[10m]))"))
    problems = found(lint(text, "d.json"), "dashboard/rate_interval")
    line = text.splitlines()[problems[0].line - 1]
    assert [line[p.column - 1 : p.span.end_column - 1] for p in problems] == ["[5m]", "[10m]"]


def test_json_that_yaml_refuses_still_lints_at_file_start() -> None:
    data = json.loads(dashboard(panel("up")))
    data["title"] = "delete \x7f"  # a raw DEL is valid in a JSON string, not in YAML
    data["uid"] = "bad uid"
    problems = lint(json.dumps(data, ensure_ascii=False), "d.json")
    (problem,) = found(problems, "dashboard/uid")
    assert (problem.line, problem.column) == (1, 1)
