"""``jobpulse lint`` and the lint gate of ``jobpulse build``: exit codes and output formats, in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jobpulse.cli.main import cli
from jobpulse.lint.registry import all_checks
from tests.helpers import PREVIEW_SPEC
from tests.lint.util import CATALOGUE_SPEC, dashboard, panel, rules

CLEAN = rules("sum(rate(http_requests_total[5m])) > 1")
WARNS = rules("sum(rate(http_requests_total[5m])) > 1", for_=None)  # alerts/for: a warning only
BROKEN = rules("sum by (status) (rate(x_total[5m])) / sum(rate(x_total[5m])) > 0.1")  # vector_matching: error
TEXT_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning|info) (?P<check>\S+) (?P<msg>.+)$"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["lint", *args], catch_exceptions=False, terminal_width=120)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_clean_file_exits_0(tmp_path: Path) -> None:
    result = run(str(write(tmp_path, "rules.yml", CLEAN)))
    assert result.exit_code == 0, result.output
    assert result.output == "no problems in 1 file\n"


def test_warnings_exit_0_unless_fail_on_warning(tmp_path: Path) -> None:
    path = str(write(tmp_path, "rules.yml", WARNS))
    assert run(path).exit_code == 0
    assert run("--fail-on", "warning", path).exit_code == 1


def test_errors_exit_1_with_path_line_col_severity_check_message_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", BROKEN)
    result = run(str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    match = TEXT_LINE.match(lines[0])
    assert match is not None, lines[0]
    assert match["file"] == str(path)
    assert match["sev"] == "error" and match["check"] == "promql/vector_matching"
    # the problem points at the `/` inside the expression, not only at its line
    assert (int(match["line"]), int(match["col"])) == (5, 47)
    assert lines[1].startswith("    fix: ")
    assert lines[-1] == "1 problem (1 error) in 1 file"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a PATH"),
        (("does/not/exist.yml",), "no such file"),
        (("--online", "ftp://example.com", "x.yml"), "http(s) URL"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_unrecognised_and_unparsable_files_exit_2(tmp_path: Path) -> None:
    other = run(str(write(tmp_path, "other.yaml", "just: a mapping\n")))
    assert other.exit_code == 2 and "not a jobpulse spec, Prometheus rule file" in other.output
    broken = run(str(write(tmp_path, "broken.yml", "groups: [\n")))
    assert broken.exit_code == 2 and re.search(r"broken\.yml:\d+:\d+: invalid YAML", broken.output)


def test_spec_errors_exit_2_with_located_messages(tmp_path: Path) -> None:
    spec = write(tmp_path, "jobpulse.yaml", CATALOGUE_SPEC.replace("help: Requests.", "hlep: Requests."))
    result = run(str(spec))
    assert result.exit_code == 2
    assert re.search(r"jobpulse\.yaml:\d+:\d+: error: .*unknown key 'hlep'", result.output)


def test_unreachable_prometheus_exits_2(tmp_path: Path) -> None:
    result = run("--online", "http://127.0.0.1:9", str(write(tmp_path, "rules.yml", CLEAN)))
    assert result.exit_code == 2
    assert "cannot reach Prometheus at http://127.0.0.1:9" in result.output


def test_spec_option_checks_other_files_against_the_catalogue(tmp_path: Path) -> None:
    spec = write(tmp_path, "jobpulse.yaml", CATALOGUE_SPEC)
    path = str(write(tmp_path, "rules.yml", rules("rate(http_request_total[5m]) > 1")))
    assert "promql/series" not in run(path).output
    with_spec = run("--spec", str(spec), path)
    assert with_spec.exit_code == 1
    assert "error promql/series unknown metric 'http_request_total'; did you mean 'http_requests_total'?" in (
        with_spec.output
    )
    assert run("--spec", str(spec)).output == "no problems in 1 file\n"
    # without --spec, the one spec among the paths is the catalogue
    assert "error promql/series unknown metric 'http_request_total'" in run(str(spec), path).output


def test_directories_are_walked_for_lintable_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", CLEAN)
    write(tmp_path, "b.json", dashboard(panel("sum(rate(http_requests_total[5m]))")))
    write(tmp_path, "notes.yaml", "not: lintable\n")
    write(tmp_path, "README.md", "# docs\n")
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "1 problem (1 warning) in 2 files"


def test_json_carries_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", BROKEN)
    data = json.loads(run("--format", "json", str(path)).output)
    assert data["counts"] == {"info": 0, "warning": 0, "error": 1}
    (problem,) = data["problems"]
    assert problem == {
        "file": str(path),
        "line": 5,
        "column": 47,
        "end_line": 5,
        "end_column": 48,
        "severity": "error",
        "check": "promql/vector_matching",
        "message": problem["message"],
        "hint": problem["hint"],
        "path": "groups[0].rules[0].expr",
    }
    assert "no series can match" in problem["message"] and problem["hint"]


def test_github_annotations(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", BROKEN)
    result = run("--format", "github", str(path))
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith(f"::error file={path},line=5,col=47,endLine=5,endColumn=48,title=promql/vector_matching::")
    assert "%0Afix: " in line and "\n" not in line


def test_sarif_has_rules_and_the_same_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", BROKEN)
    log = json.loads(run("--format", "sarif", str(path)).output)
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    rules_ = sarif_run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules_] == sorted(all_checks())
    (result,) = sarif_run["results"]
    assert result["ruleId"] == "promql/vector_matching" and result["level"] == "error"
    assert rules_[result["ruleIndex"]]["id"] == result["ruleId"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == str(path)
    assert location["region"] == {"startLine": 5, "startColumn": 47, "endLine": 5, "endColumn": 48}
    assert result["properties"]["hint"] and result["properties"]["severity"] == "error"


def test_list_checks_names_every_check() -> None:
    result = run("--list-checks")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == sorted(all_checks())


# --- the lint gate of jobpulse build ------------------------------------------------------------------


def _broken_spec(tmp_path: Path) -> Path:
    text = PREVIEW_SPEC.read_text(encoding="utf-8")
    # drop the example's reasoned suppression of the seed's broken "Job outcomes (%)" panel
    entry = re.compile(r"    - check: promql/vector_matching\n.*?(?=    - check:)", re.S)
    text, count = entry.subn("", text)
    assert count == 1
    path = tmp_path / "jobpulse.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_build_refuses_a_spec_with_lint_errors(tmp_path: Path) -> None:
    spec = _broken_spec(tmp_path)
    result = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "error promql/vector_matching" in result.output
    assert "not building" in result.output and "--ignore-lint-errors" in result.output
    assert not (tmp_path / "out").exists()


def test_build_override_builds_and_says_so(tmp_path: Path) -> None:
    spec = _broken_spec(tmp_path)
    result = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "out"), "--ignore-lint-errors"])
    assert result.exit_code == 0, result.output
    assert "building despite 1 lint error (--ignore-lint-errors)" in result.output
    assert (tmp_path / "out" / "prometheus").is_dir()


def test_spec_option_must_name_a_spec(tmp_path: Path) -> None:
    rules_path = str(write(tmp_path, "rules.yml", CLEAN))
    result = run("--spec", rules_path, rules_path)
    assert result.exit_code == 2
    assert "expected `version: jobpulse/v1`" in result.output


def test_every_document_of_a_multi_document_file_is_linted(tmp_path: Path) -> None:
    resource = (
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: a}\n"
        "spec:\n  groups:\n    - name: g\n      rules:\n"
        "        - {alert: A, expr: 'sum by (x) (rate(a_total[5m])) / sum(rate(a_total[5m])) > 1', for: 5m,\n"
        "           labels: {severity: info}, annotations: {summary: s, description: d, runbook_url: r}}\n"
    )
    path = write(tmp_path, "rules.yaml", resource + "---\n" + resource.replace("name: a}", "name: b}") + "---\n")
    data = json.loads(run("--format", "json", str(path)).output)
    assert [(p["check"], p["line"]) for p in data["problems"]] == [
        ("promql/vector_matching", 8),
        ("promql/vector_matching", 18),
    ]


def test_a_spec_the_resolver_refuses_late_is_a_spec_error_not_a_crash(tmp_path: Path) -> None:
    # an empty panel expr is refused by the wire model, with its location
    spec = write(
        tmp_path,
        "jobpulse.yaml",
        CATALOGUE_SPEC + "dashboards:\n  - title: D\n    panels:\n      - {title: P, unit: s, expr: ''}\n",
    )
    result = run(str(spec))
    assert result.exit_code == 2
    assert "jobpulse.yaml:" in result.output
    assert "dashboards[0].panels[0].expr: String should have at least 1 character" in result.output
