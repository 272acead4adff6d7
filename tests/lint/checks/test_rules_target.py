"""rules/target: fields a rule engine refuses, by target and version — and the real engines agree.

The last tests load one rule file per field into Debian's promtool 2.42 and vmalert 1.79 and check that
each accepts exactly the fields the table says that version accepts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from jobpulse.cli.main import cli
from jobpulse.compile import compile_spec
from jobpulse.compile.rule_target import fit_rule_file
from jobpulse.lint.problem import Problem, Severity
from jobpulse.lint.runner import lint_paths, lint_spec_problems, lint_text
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from jobpulse.spec.targets import FIELDS, TARGETS, Field, RuleTarget, Verdict, verdict
from tests.conftest import need_binary
from tests.helpers import EXAMPLE_SPECS, MINIMAL_SPEC

CHECK = "rules/target"


def rule_file(group_fields: str = "", rule_fields: str = "") -> str:
    text = "groups:\n  - name: api.alerts\n"
    text += "".join(f"    {line}\n" for line in group_fields.splitlines())
    text += "    rules:\n      - alert: ApiDown\n        expr: up == 0\n        for: 5m\n"
    text += "".join(f"        {line}\n" for line in rule_fields.splitlines())
    return text


def problems(text: str, target: str | None, file: str = "rules.yml") -> list[Problem]:
    parsed = RuleTarget.parse(target) if target else None
    return [p for p in lint_text(text, file, target=parsed)[0] if p.check == CHECK]


def test_vmalert_flags_a_query_offset_group_in_every_version() -> None:
    text = rule_file("query_offset: 1m")
    for target in ("vmalert", "vmalert@1.79", "vmalert@1.120"):
        (found,) = problems(text, target)
        assert found.severity is Severity.ERROR
        assert (found.line, found.column) == (3, 5)
        assert "vmalert does not accept `query_offset`" in found.message
        assert "eval_delay" in found.hint
    assert problems(text, "prometheus") == []
    assert problems(text, "mimir") == []


def test_a_pinned_version_reports_fields_added_later_with_the_version_that_added_them() -> None:
    text = rule_file(rule_fields="keep_firing_for: 5m")
    (old,) = problems(text, "vmalert@1.79")
    assert "`keep_firing_for` needs vmalert 1.92.0 or later; vmalert 1.79.0 refuses the whole rule file" in old.message
    assert "vmalert@1.92.0" in old.hint
    assert problems(text, "vmalert@1.92") == []
    assert problems(text, "vmalert") == []  # unpinned: a current release
    (prometheus,) = problems(text, "prometheus@2.41")
    assert "Prometheus 2.42.0 or later" in prometheus.message
    assert problems(text, "prometheus@2.42.0") == []
    offset = rule_file("query_offset: 1m")
    (too_old,) = problems(offset, "prometheus@2.42")
    assert "`query_offset` needs Prometheus 2.53.0 or later" in too_old.message
    assert problems(offset, "prometheus@2.53") == []
    assert "Thanos Ruler 0.38.0" in problems(offset, "thanos@0.37")[0].message
    assert "Mimir ruler 2.13.0" in problems(offset, "mimir@2.12.9")[0].message


def test_engine_specific_fields_on_another_engine() -> None:
    assert "Prometheus does not accept `concurrency`" in problems(rule_file("concurrency: 2"), None)[0].message
    assert problems(rule_file("concurrency: 2"), "vmalert") == []
    partial = rule_file("partial_response_strategy: warn")
    assert problems(partial, "thanos") == []
    assert [p.message.split(": ", 1)[1] for p in problems(partial, "vmalert")] == [
        "vmalert does not accept `partial_response_strategy` (in any version) and refuses the whole rule file"
    ]
    tenants = rule_file("source_tenants: [a, b]")
    assert problems(tenants, "mimir") == []
    assert len(problems(tenants, "thanos")) == 1
    delay = rule_file("eval_delay: 1m")
    assert "query_offset" in problems(delay, "prometheus")[0].hint
    assert problems(delay, "vmalert@1.95") == []
    assert len(problems(delay, "vmalert@1.94")) == 1


def test_a_field_no_engine_reads_and_alert_fields_on_recording_rules() -> None:
    (typo,) = problems(rule_file("intervall: 1m"), "thanos")
    assert "`intervall` is not a group field of any rule engine" in typo.message
    recording = "groups:\n  - name: r\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n        for: 1m\n"
    (on_prometheus,) = problems(recording, None)
    assert "recording rule job:up:sum has `for`" in on_prometheus.message
    assert (on_prometheus.line, on_prometheus.column) == (6, 9)
    assert problems(recording, "vmalert") == []  # vmalert ignores `for` on a recording rule


def test_prometheus_rule_resources_are_checked_at_spec_groups() -> None:
    resource = yaml.safe_dump(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "api"},
            "spec": {"groups": [{"name": "g", "query_offset": "1m", "rules": [{"alert": "A", "expr": "up == 0"}]}]},
        },
        sort_keys=False,
    )
    (found,) = problems(resource, "vmalert", "rule.yaml")
    assert found.path == "spec.groups[0].query_offset"


TARGET_SPEC = (
    MINIMAL_SPEC
    + """\
alerts:
  - name: JobsFailing
    expr: sum(rate(jobs_done_total{outcome="error"}[5m])) > 1
    for: 5m
    keep_firing_for: 10m
    severity: warning
    summary: Jobs fail
    description: "{{ $value }} failures per second"
"""
)


def _spec(tmp_path: Path, lint_section: str = "") -> Path:
    path = tmp_path / "jobpulse.yaml"
    path.write_text(TARGET_SPEC + lint_section)
    return path


def test_the_spec_lint_target_applies_and_the_command_line_wins(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "lint:\n  target: vmalert@1.79\n")
    (found,) = [p for p in lint_spec_problems(spec) if p.check == CHECK]
    assert found.path == "alerts[0].keep_firing_for"
    assert "vmalert 1.92.0 or later" in found.message
    assert [p for p in lint_spec_problems(spec, RuleTarget.parse("vmalert@1.92")) if p.check == CHECK] == []
    result = CliRunner().invoke(cli, ["lint", "--target", "prometheus", str(spec)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["lint", str(spec)])
    assert result.exit_code == 1 and CHECK in result.output


def test_a_bad_target_is_a_usage_or_spec_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["lint", "--target", "cortex", str(_spec(tmp_path))])
    assert result.exit_code == 2 and "expected a target prometheus, vmalert, thanos, mimir" in result.output
    bad = _spec(tmp_path, "lint:\n  target: vmalert@one\n")
    result = CliRunner().invoke(cli, ["lint", str(bad)])
    assert result.exit_code == 2 and "jobpulse.yaml:" in result.output and "lint.target" in result.output


def test_build_never_writes_a_field_the_target_refuses(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "lint:\n  target: vmalert@1.79\n")
    refused = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "a")])
    assert refused.exit_code == 1 and "keep_firing_for" in refused.output
    built = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "b"), "--ignore-lint-errors", "-q"])
    assert built.exit_code == 0, built.output
    assert "rule JobsFailing: dropped `keep_firing_for`, which vmalert 1.79.0 refuses" in built.output
    rules = (tmp_path / "b" / "prometheus" / "mini.rules.yml").read_text()
    assert "keep_firing_for" not in rules
    newer = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "c"), "--target", "vmalert@1.92", "-q"])
    assert newer.exit_code == 0, newer.output
    assert "keep_firing_for: 10m" in (tmp_path / "c" / "prometheus" / "mini.rules.yml").read_text()


def test_fit_rule_file_keeps_what_the_target_accepts() -> None:
    content = {
        "groups": [
            {
                "name": "g",
                "interval": "1m",
                "query_offset": "1m",
                "rules": [{"alert": "A", "expr": "up == 0", "keep_firing_for": "5m"}],
            }
        ]
    }
    fitted, notes = fit_rule_file(content, RuleTarget.parse("vmalert@1.79"))
    assert fitted == {"groups": [{"name": "g", "interval": "1m", "rules": [{"alert": "A", "expr": "up == 0"}]}]}
    assert len(notes) == 2
    assert fit_rule_file(content, RuleTarget.parse("prometheus@2.53")) == (content, [])


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_examples_and_their_builds_lint_clean_for_every_target(spec_path: Path, target: str, tmp_path: Path) -> None:
    parsed = RuleTarget.parse(target)
    out = tmp_path / "build"
    write_build(compile_spec(load_spec(spec_path), parsed), out)
    result = lint_paths([spec_path, out], spec=spec_path, target=parsed)
    assert [p for p in result.problems if p.check == CHECK] == []
    assert [p for p in result.problems if p.severity is Severity.ERROR] == []


@given(
    name=st.sampled_from(sorted(TARGETS)),
    version=st.one_of(st.none(), st.lists(st.integers(0, 999), min_size=1, max_size=3)),
)
def test_target_text_round_trips(name: str, version: list[int] | None) -> None:
    text = name if version is None else f"{name}@{'.'.join(map(str, version))}"
    target = RuleTarget.parse(text)
    assert target.name == name
    assert RuleTarget.parse(str(target)) == target
    if version is not None:
        assert target.version == tuple([*version, 0, 0, 0][:3])


@given(st.text(max_size=30))
def test_target_parse_accepts_only_the_documented_forms(text: str) -> None:
    try:
        target = RuleTarget.parse(text)
    except ValueError as exc:
        assert "expected a target" in str(exc)
    else:
        assert target.name in TARGETS


# --- the real engines agree with the table ---------------------------------------------------------

#: a value each field accepts, so that only the field's presence decides
VALUES = {
    "limit": "10",
    "query_offset": "1m",
    "labels": "{team: jobs}",
    "partial_response_strategy": "warn",
    "source_tenants": "[a]",
    "evaluation_delay": "1m",
    "align_evaluation_time_on_interval": "true",
    "type": "prometheus",
    "concurrency": "2",
    "params": "{nocache: ['1']}",
    "headers": "['X-Test: 1']",
    "notifier_headers": "['X-Test: 1']",
    "eval_offset": "1m",
    "eval_delay": "1m",
    "eval_alignment": "true",
    "debug": "true",
    "keep_firing_for": "5m",
    "update_entries_limit": "5",
}
OPTIONAL = [f for f in FIELDS if f.name in VALUES]


def _accepts(command: list[str], path: Path) -> bool:
    return subprocess.run([*command, str(path)], capture_output=True, timeout=60).returncode == 0


@pytest.mark.parametrize("field", OPTIONAL, ids=lambda f: f"{f.level}.{f.name}")
def test_promtool_2_42_and_vmalert_1_79_accept_exactly_what_the_table_says(field: Field, tmp_path: Path) -> None:
    promtool, vmalert = need_binary("promtool"), need_binary("vmalert")
    line = f"{field.name}: {VALUES[field.name]}"
    text = rule_file(group_fields=line) if field.level == "group" else rule_file(rule_fields=line)
    path = tmp_path / "rules.yml"
    path.write_text(text)
    prometheus_ok = verdict(RuleTarget.parse("prometheus@2.42"), field.level, field.name)[0] is Verdict.OK
    vmalert_ok = verdict(RuleTarget.parse("vmalert@1.79"), field.level, field.name)[0] is Verdict.OK
    assert _accepts([promtool, "check", "rules"], path) == prometheus_ok, text
    assert _accepts([vmalert, "-dryRun", "-rule"], path) == vmalert_ok, text
