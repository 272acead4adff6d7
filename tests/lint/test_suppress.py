"""Suppressions: `# jobpulse: disable=<id> -- <reason>` comments and a spec's lint.allow entries."""

from __future__ import annotations

from jobpulse.lint.problem import Severity
from tests.lint.util import CATALOGUE_SPEC, found, lint

FLAPPY_RULES = """\
groups:
  - name: g
    rules:
      - alert: NoFor{comment_rule}
        expr: sum(rate(http_requests_total[5m])) > 1
        labels: {{severity: warning}}
        annotations: {{summary: s, description: d, runbook_url: r}}
"""


def rules_with(comment: str) -> str:
    return FLAPPY_RULES.format(comment_rule=comment)


def test_a_reasoned_comment_on_the_rule_line_suppresses_problems_in_the_rule() -> None:
    problems = lint(rules_with("  # jobpulse: disable=alerts/for -- one bad minute is already an incident"))
    assert found(problems, "alerts/for") == []
    assert found(problems, "lint/suppression") == []


def test_a_comment_without_reason_suppresses_nothing_and_is_reported() -> None:
    problems = lint(rules_with("  # jobpulse: disable=alerts/for"))
    assert len(found(problems, "alerts/for")) == 1
    (problem,) = found(problems, "lint/suppression")
    assert "has no reason" in problem.message
    assert (problem.line, problem.column) == (4, 23)  # the `#` of the comment


def test_unknown_checks_and_unused_suppressions_are_reported() -> None:
    unknown = lint(rules_with("  # jobpulse: disable=alerts/fro -- typo"))
    assert [p.message for p in found(unknown, "lint/suppression")] == ["suppression names unknown check 'alerts/fro'"]
    unused = lint(rules_with("  # jobpulse: disable=promql/counter -- nothing to hide"))
    assert [p.message for p in found(unused, "lint/suppression")] == [
        "suppression of promql/counter matches no problem"
    ]


def test_a_comment_on_its_own_line_applies_to_the_next_node() -> None:
    text = """\
groups:
  - name: g
    rules:
      # jobpulse: disable=alerts/for,promql/counter -- both kept: the counter is a gauge in disguise
      - alert: Raw
        expr: http_requests_total > 1
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
      - alert: RawToo
        expr: http_requests_total > 1
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
"""
    problems = lint(text)
    assert [p.line for p in found(problems, "promql/counter")] == [10]  # only the second rule's
    assert found(problems, "lint/suppression") == []


def test_a_comment_after_a_block_scalar_header_covers_the_block() -> None:
    text = """\
groups:
  - name: g
    rules:
      - alert: Raw
        expr: |  # jobpulse: disable=promql/counter -- a seed's expression, kept as written
          sum(http_requests_total)
            > 1
        for: 5m
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
"""
    problems = lint(text)
    assert found(problems, "promql/counter") == []
    assert found(problems, "lint/suppression") == []


def test_hash_signs_inside_strings_are_not_comments() -> None:
    text = rules_with("").replace("description: d", 'description: "see # jobpulse: disable=alerts/for -- no"')
    problems = lint(text)
    assert len(found(problems, "alerts/for")) == 1
    assert found(problems, "lint/suppression") == []


ALLOW_SPEC = (
    CATALOGUE_SPEC
    + """\
alerts:
  - name: Raw
    expr: http_requests_total > 100
    for: 5m
    severity: warning
    summary: s
    description: d
  - name: AlsoRaw
    expr: http_requests_total > 200
    for: 5m
    severity: warning
    summary: s
    description: d
lint:
  allow:
{entries}"""
)


def allow_spec(entries: str) -> str:
    return ALLOW_SPEC.replace("{entries}", entries)


def test_lint_allow_matches_by_name_and_path() -> None:
    by_name = lint(
        allow_spec("    - {check: promql/counter, where: Raw, reason: kept as the seed wrote it}\n"),
        "spec.yaml",
    )
    assert [p.subjects[0] for p in found(by_name, "promql/counter")] == ["AlsoRaw"]
    by_path = lint(allow_spec("    - {check: promql/counter, where: 'alerts[1]', reason: same}\n"), "spec.yaml")
    assert [p.subjects[0] for p in found(by_path, "promql/counter")] == ["Raw"]
    everywhere = lint(allow_spec("    - {check: promql/counter, reason: all of them}\n"), "spec.yaml")
    assert found(everywhere, "promql/counter") == []
    assert found(everywhere, "lint/suppression") == []


def test_lint_allow_entries_that_match_nothing_or_no_check_are_reported() -> None:
    entries = (
        "    - {check: promql/counter, reason: all of them}\n"
        "    - {check: promql/gauge_rate, where: Raw, reason: stale}\n"
        "    - {check: promql/countr, reason: typo}\n"
    )
    problems = found(lint(allow_spec(entries), "spec.yaml"), "lint/suppression")
    assert [(p.message, p.path) for p in problems] == [
        ("lint.allow entry for promql/gauge_rate at 'Raw' matches no problem", "lint.allow[1]"),
        ("lint.allow names unknown check 'promql/countr'", "lint.allow[2]"),
    ]
    assert all(p.severity is Severity.WARNING for p in problems)


def test_lint_allow_of_a_spec_applies_to_files_linted_with_it() -> None:
    from jobpulse.lint.catalogue import load_catalogue
    from jobpulse.lint.runner import lint_text
    from tests.lint.util import rules

    spec = load_catalogue(
        allow_spec("    - {check: promql/counter, where: http_requests_total, reason: known}\n"),
        "spec.yaml",
    )
    problems, _ = lint_text(rules("http_requests_total > 1"), "rules.yml", catalogue=spec)
    assert found(problems, "promql/counter") == []
