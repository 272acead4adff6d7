"""`jobpulse test` loads only the rule groups a test can observe (jobpulse.verify.promtool.needed_groups)."""

from __future__ import annotations

from typing import Any

from jobpulse.verify.promtool import needed_groups

GROUPS: list[dict[str, Any]] = [
    {"name": "kpi", "rules": [{"alert": "PostsDropped", "expr": "posts:rate1h < 0.2 * posts:rate1h offset 1d"}]},
    {"name": "kpi-records", "rules": [{"record": "posts:rate1h", "expr": "sum(rate(posts_total[1h]))"}]},
    {"name": "slo", "rules": [{"record": "slo:ratio", "expr": "sum(rate(errors_total[30d]))"}]},
    {"name": "slo-alerts", "rules": [{"alert": "Burn", "expr": "slo:ratio > 0.1"}]},
    {"name": "unrelated", "rules": [{"alert": "DiskFull", "expr": "disk_free_bytes < 1e9"}]},
]


def names(groups: list[dict[str, Any]]) -> list[str]:
    return [g["name"] for g in groups]


def test_an_alert_test_loads_its_group_and_what_it_reads_transitively() -> None:
    test = {"alert_rule_test": [{"eval_time": "1d", "alertname": "PostsDropped", "exp_alerts": []}]}
    assert names(needed_groups(GROUPS, test)) == ["kpi", "kpi-records"]
    test = {"alert_rule_test": [{"eval_time": "1h", "alertname": "Burn"}]}
    assert names(needed_groups(GROUPS, test)) == ["slo", "slo-alerts"]


def test_expression_tests_load_the_groups_recording_what_they_read() -> None:
    test = {"promql_expr_test": [{"expr": "slo:ratio", "eval_time": "1h", "exp_samples": []}]}
    assert names(needed_groups(GROUPS, test)) == ["slo"]
    test = {"promql_expr_test": [{"expr": "posts_total", "eval_time": "1h", "exp_samples": []}]}
    assert needed_groups(GROUPS, test) == []


def test_in_doubt_every_group_is_loaded() -> None:
    for test in (
        {"alert_rule_test": [{"alertname": "NoSuchAlert"}]},  # a test of an alert that does not exist
        {"promql_expr_test": [{"expr": '{__name__=~"slo:.*"}'}]},  # no metric name
        {"promql_expr_test": [{"expr": 'ALERTS{alertname="Burn"}'}]},  # alert state
        {"promql_expr_test": [{"expr": "sum(("}]},  # does not parse: promtool will say so
    ):
        assert needed_groups(GROUPS, test) is GROUPS, test
    reads_alerts = [*GROUPS, {"name": "meta", "rules": [{"alert": "Many", "expr": "count(ALERTS) > 3"}]}]
    assert needed_groups(reads_alerts, {"alert_rule_test": [{"alertname": "Many"}]}) is reads_alerts
