"""`jobpulse test` loads only the rules a test can observe (needed_rules), and runs the tests selected (shard, -k)."""

from __future__ import annotations

from typing import Any

from jobpulse.verify.promtool import needed_rules

GROUPS: list[dict[str, Any]] = [
    {"name": "kpi", "rules": [{"alert": "PostsDropped", "expr": "posts:rate1h < 0.2 * posts:rate1h offset 1d"}]},
    {"name": "kpi-records", "rules": [{"record": "posts:rate1h", "expr": "sum(rate(posts_total[1h]))"}]},
    {
        "name": "slo",
        "interval": "1m",
        "rules": [
            {"record": "slo:ratio", "expr": "sum(rate(errors_total[1h]))"},
            {"record": "slo:period", "expr": "sum(rate(errors_total[30d]))"},
            {"record": "slo:remaining", "expr": "1 - slo:period"},
        ],
    },
    {"name": "slo-alerts", "rules": [{"alert": "Burn", "expr": "slo:ratio > 0.1"}]},
    {"name": "unrelated", "rules": [{"alert": "DiskFull", "expr": "disk_free_bytes < 1e9"}]},
]


def names(groups: list[dict[str, Any]]) -> list[str]:
    return [f"{g['name']}:{r.get('alert') or r.get('record')}" for g in groups for r in g["rules"]]


def test_an_alert_test_loads_its_rules_and_what_they_read_transitively() -> None:
    test = {"alert_rule_test": [{"eval_time": "1d", "alertname": "PostsDropped", "exp_alerts": []}]}
    assert names(needed_rules(GROUPS, test)) == ["kpi:PostsDropped", "kpi-records:posts:rate1h"]
    test = {"alert_rule_test": [{"eval_time": "1h", "alertname": "Burn"}]}
    # the 30-day rules of the same group are not read by the alert: left out
    assert names(needed_rules(GROUPS, test)) == ["slo:slo:ratio", "slo-alerts:Burn"]


def test_kept_groups_keep_their_settings_and_rule_order() -> None:
    test = {"promql_expr_test": [{"expr": "slo:remaining + slo:ratio", "eval_time": "1h", "exp_samples": []}]}
    (slo,) = needed_rules(GROUPS, test)
    assert slo["interval"] == "1m"
    assert [r["record"] for r in slo["rules"]] == ["slo:ratio", "slo:period", "slo:remaining"]


def test_expression_tests_load_the_rules_recording_what_they_read() -> None:
    test = {"promql_expr_test": [{"expr": "slo:period", "eval_time": "1h", "exp_samples": []}]}
    assert names(needed_rules(GROUPS, test)) == ["slo:slo:period"]
    test = {"promql_expr_test": [{"expr": "posts_total", "eval_time": "1h", "exp_samples": []}]}
    assert needed_rules(GROUPS, test) == []


def test_in_doubt_every_group_is_loaded() -> None:
    for test in (
        {"alert_rule_test": [{"alertname": "NoSuchAlert"}]},  # a test of an alert that does not exist
        {"promql_expr_test": [{"expr": '{__name__=~"slo:.*"}'}]},  # no metric name
        {"promql_expr_test": [{"expr": 'ALERTS{alertname="Burn"}'}]},  # alert state
        {"promql_expr_test": [{"expr": "sum(("}]},  # does not parse: promtool will say so
    ):
        assert needed_rules(GROUPS, test) is GROUPS, test
    reads_alerts = [*GROUPS, {"name": "meta", "rules": [{"alert": "Many", "expr": "count(ALERTS) > 3"}]}]
    assert needed_rules(reads_alerts, {"alert_rule_test": [{"alertname": "Many"}]}) is reads_alerts
    queries = [
        *GROUPS,
        {"name": "q", "rules": [{"alert": "Q", "expr": "up == 0", "annotations": {"d": '{{ query "slo:ratio" }}'}}]},
    ]
    assert needed_rules(queries, {"alert_rule_test": [{"alertname": "Q"}]}) is queries
    # the word in plain text is not a template query: the rules are still pruned
    words = [*GROUPS, {"name": "w", "rules": [{"alert": "W", "expr": "up == 0", "annotations": {"d": "slow query"}}]}]
    assert names(needed_rules(words, {"alert_rule_test": [{"alertname": "W"}]})) == ["w:W"]


# --- jobpulse test --shard I/N and -k TEXT --------------------------------------------------------------


def test_shards_run_every_test_once_with_balanced_evaluation_steps() -> None:
    from jobpulse.compile import compile_spec
    from jobpulse.spec.load import load_spec
    from jobpulse.verify.promtool import evaluation_steps, shard
    from tests.helpers import ROOT

    groups = compile_spec(load_spec(ROOT / "examples" / "platform" / "jobpulse.yaml")).test_groups
    parts = [shard(groups, i, 3) for i in (1, 2, 3)]
    names = [g.name for part in parts for g in part]
    assert sorted(names) == sorted(g.name for g in groups) and len(set(names)) == len(groups)
    steps = [sum(evaluation_steps(g) for g in part) for part in parts]
    assert max(steps) - min(steps) <= max(evaluation_steps(g) for g in groups), steps
    assert parts == [shard(groups, i, 3) for i in (1, 2, 3)]  # deterministic
    for part in parts:  # each shard keeps the spec's order
        assert [g.name for g in part] == [g.name for g in groups if g in part]


def test_cli_selects_tests_by_name_and_refuses_bad_selections(promtool: str) -> None:
    from click.testing import CliRunner

    from jobpulse.cli.test import test_command
    from tests.helpers import PREVIEW_SPEC

    result = CliRunner().invoke(test_command, [str(PREVIEW_SPEC), "-k", "STAYS SILENT", "-k", "warns"])
    assert result.exit_code == 0, result.output
    ran = [
        line for line in result.output.splitlines() if line.startswith(("ok   ", "FAIL ")) and "check rules" not in line
    ]
    assert ran and all("stays silent" in line or "warns" in line for line in ran)
    assert f"running {len(ran)} of " in result.output
    for args, message in (
        (["-k", "no test is called this"], "no test's name contains 'no test is called this'"),
        (["--shard", "4/3"], "expected I/N with 1 <= I <= N"),
        (["--shard", "two"], "expected I/N"),
    ):
        result = CliRunner().invoke(test_command, [str(PREVIEW_SPEC), *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, result.output
