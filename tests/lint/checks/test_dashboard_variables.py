"""dashboard/variables: every template variable a dashboard query uses is defined by the dashboard — in Grafana JSON
(built or hand-written) and in a spec; `jobpulse build` refuses a spec whose dashboard uses an undefined one."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from jobpulse.cli.main import cli
from jobpulse.compile import compile_spec
from jobpulse.lint.checks.dashboard_variables import used_variables
from jobpulse.lint.runner import lint_paths
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from tests.helpers import EXAMPLE_SPECS
from tests.lint.util import CATALOGUE_SPEC, dashboard, found, lint, panel

CHECK = "dashboard/variables"
QUERY = 'sum(rate(http_requests_total{route=~"$route", status="${status}"}[$__rate_interval]))'
VARIABLES = """\
    variables:
      - {name: route, query: 'label_values(http_requests_total, route)'}
"""
SPEC_DASHBOARD = """\
dashboards:
  - title: Shop
%(variables)s    panels:
      - title: Requests
        unit: reqps
        expr: '%(expr)s'
"""


def _spec(variables: str, expr: str = QUERY) -> str:
    return CATALOGUE_SPEC + SPEC_DASHBOARD % {"variables": variables, "expr": expr}


def _variable(name: str, query: str) -> dict[str, object]:
    return {"name": name, "type": "query", "query": {"query": query, "refId": "V"}}


def test_grafana_json_names_each_undefined_variable_and_suggests_label_values() -> None:
    text = dashboard(panel(QUERY))
    problems = found(lint(text, "d.json"), CHECK)
    assert [p.message for p in problems] == [
        "$route is not a variable of dashboard 'Test' (it defines datasource)",
        "${status} is not a variable of dashboard 'Test' (it defines datasource)",
    ]
    assert '"query": "label_values(http_requests_total, route)"' in problems[0].hint
    assert '"query": "label_values(http_requests_total, status)"' in problems[1].hint
    # the position is the variable's, inside the query
    line = text.splitlines()[problems[0].line - 1]
    assert line[problems[0].column - 1 :].startswith("$route")


def test_grafana_json_with_the_variables_defined_is_clean() -> None:
    templating = {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            _variable("route", "label_values(http_requests_total, route)"),
            _variable("status", 'label_values(http_requests_total{route=~"$route"}, status)'),
        ]
    }
    assert found(lint(dashboard(panel(QUERY), templating=templating), "d.json"), CHECK) == []


def test_a_chained_variable_query_is_checked_too() -> None:
    templating = {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            _variable("status", 'label_values(http_requests_total{route=~"$route"}, status)'),
        ]
    }
    text = dashboard(panel('sum(rate(http_requests_total{status="$status"}[$__rate_interval]))'), templating=templating)
    [problem] = found(lint(text, "d.json"), CHECK)
    assert problem.path == "templating.list[1].query.query"
    assert problem.message.startswith("$route is not a variable")


def test_grafana_builtins_and_the_deprecated_syntax() -> None:
    builtins = "sum(increase(http_requests_total[$__range])) / $__range_s + $__interval_ms"
    assert found(lint(dashboard(panel(builtins)), "d.json"), CHECK) == []
    [problem] = found(lint(dashboard(panel('http_requests_total{route="[[route]]"}')), "d.json"), CHECK)
    assert problem.message.startswith("[[route]] is not a variable")


def test_spec_dashboard_without_the_variable_is_an_error_and_build_refuses_it(tmp_path: Path) -> None:
    problems = found(lint(_spec(""), "jobpulse.yaml"), CHECK)
    assert [p.message for p in problems] == [
        "$route is not a variable of dashboard 'Shop' (it defines datasource)",
        "${status} is not a variable of dashboard 'Shop' (it defines datasource)",
    ]
    assert problems[0].hint == (
        "add to the dashboard: variables: [{name: route, query: 'label_values(http_requests_total, route)'}]"
    )
    assert problems[0].path == "dashboards[0].panels[0].expr"
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(_spec(""))
    result = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "build")])
    assert result.exit_code == 1, result.output
    assert "dashboard/variables" in result.output
    assert not (tmp_path / "build").exists()


def test_spec_with_its_variables_builds_a_dashboard_that_defines_them(tmp_path: Path) -> None:
    spec = tmp_path / "jobpulse.yaml"
    spec.write_text(_spec(VARIABLES, expr='sum(rate(http_requests_total{route=~"$route"}[$__rate_interval]))'))
    assert found(lint(spec.read_text(), "jobpulse.yaml"), CHECK) == []
    out = tmp_path / "build"
    write_build(compile_spec(load_spec(spec)), out)
    [built] = (out / "grafana").glob("*.json")
    variables = {v["name"]: v for v in json.loads(built.read_text())["templating"]["list"]}
    assert variables["route"]["type"] == "query"
    assert variables["route"]["definition"] == "label_values(http_requests_total, route)"
    assert found(lint_paths([built], spec=spec).problems, CHECK) == []


def test_every_example_dashboard_defines_what_its_queries_use(tmp_path: Path) -> None:
    """prompt_rollout's panels keep seed 003's $env/$service: its dashboard defines both as query variables."""
    for spec_path in EXAMPLE_SPECS:
        out = tmp_path / spec_path.parent.name
        write_build(compile_spec(load_spec(spec_path)), out)
        result = lint_paths([spec_path, out / "grafana"], spec=spec_path)
        assert found(result.problems, CHECK) == [], spec_path


@given(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), st.sampled_from(["$%s", "${%s}", "${%s:csv}", "[[%s]]"]))
def test_every_spelling_of_a_variable_is_found(name: str, form: str) -> None:
    written = form % name
    assert list(used_variables(f'x{{a="{written}"}}')) == [(name, written)]
