"""Lint on production rule files (issue 14): each false positive and miss found on the public corpus
(tests/lint/rules_corpus) as a case that failed before its fix, and the corpus's measured precision."""

from __future__ import annotations

import yaml

from jobpulse.lint.problem import ERROR, WARNING
from tests.lint.rules_corpus_stats import CORPUS, rule_count
from tests.lint.util import found, lint, rules


def _no_spec(text: str) -> list:  # type: ignore[type-arg]
    return lint(text, with_catalogue=False)


def test_histogram_quantile_keeps_le_through_a_group_left_join() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (cluster, instance, le) (rate(kubelet_pleg_relist_duration_seconds_bucket"
        '{job="kubelet"}[5m])) * on (cluster, instance) group_left (node) max by (cluster, instance, node) '
        '(kubelet_node_name{job="kubelet"})) >= 10'
    )
    assert found(_no_spec(rules(expr)), "promql/histogram_quantile") == []
    lost = "histogram_quantile(0.9, sum by (job) (rate(x_bucket[5m]))) > 1"
    assert [p.severity for p in found(_no_spec(rules(lost)), "promql/histogram_quantile")] == [ERROR]


def test_an_empty_rules_list_is_allowed() -> None:
    text = "groups:\n  - name: empty\n    rules:\n  - name: also\n    rules: []\n"
    assert found(_no_spec(text), "document/structure") == []


def test_an_invalid_label_name_is_an_error_as_promtool_says() -> None:
    problems = found(_no_spec(rules("up == 0", labels={"severity": "warning", "plug-l3": "x"})), "document/structure")
    assert [p.severity for p in problems] == [ERROR]
    assert "plug-l3" in problems[0].message


def test_counters_of_known_gauges_ending_in_total_are_not_counters() -> None:
    for expr in ("minio_cluster_drive_offline_total > 0", "sum(container_fs_inodes_total) by (instance) > 0"):
        assert found(_no_spec(rules(expr)), "promql/counter") == [], expr
    assert found(_no_spec(rules("node_edac_uncorrectable_errors_total > 0")), "promql/counter")


def test_the_cpu_count_idiom_is_not_a_raw_counter() -> None:
    expr = "sum(rate(node_cpu_seconds_total[5m])) / count(sum by (instance, cpu) (node_cpu_seconds_total)) > 0.9"
    assert found(_no_spec(rules(expr)), "promql/counter") == []


def test_for_0m_written_on_purpose_is_not_a_missing_for() -> None:
    assert found(_no_spec(rules("rate(x_total[5m]) > 1", for_="0m")), "alerts/for") == []
    assert found(_no_spec(rules("rate(x_total[5m]) > 1", for_=None)), "alerts/for")


def test_watchdog_and_unless_alerts_have_their_condition() -> None:
    assert found(_no_spec(rules("vector(1)", labels={"severity": "none"})), "alerts/comparison") == []
    expr = 'count by (cluster) (kube_node_info) unless on (cluster) count by (cluster) (up{job="kubelet"})'
    assert found(_no_spec(rules(expr)), "alerts/comparison") == []
    assert found(_no_spec(rules("sum by (job) (rate(x_total[5m]))")), "alerts/comparison")


def test_jobpulse_own_and_kube_prometheus_severities_are_known() -> None:
    for severity in ("page", "ticket", "none", "critical", "warning", "info"):
        assert found(_no_spec(rules("up == 0", labels={"severity": severity})), "alerts/severity") == [], severity
    assert found(_no_spec(rules("up == 0", labels={"severity": "sev1"})), "alerts/severity")


def test_rate_of_a_well_known_gauge_without_a_spec() -> None:
    problems = found(_no_spec(rules("rate(process_resident_memory_bytes[5m]) > 1")), "promql/gauge_rate")
    assert len(problems) == 1 and "process_resident_memory_bytes" in problems[0].message
    assert found(_no_spec(rules("rate(process_cpu_seconds_total[5m]) > 1")), "promql/gauge_rate") == []


def test_a_template_label_that_only_empties_an_annotation_is_a_warning() -> None:
    expr = "sum(rate(x_total[5m])) > 1"
    annotation = {"summary": "Instance {{ $labels.instance }} is slow", "description": "d", "runbook_url": "r"}
    problems = found(_no_spec(rules(expr, annotations=annotation)), "alerts/template")
    assert [p.severity for p in problems] == [WARNING]
    routed = found(
        _no_spec(rules(expr, labels={"severity": "warning", "team": "{{ $labels.team }}"})), "alerts/template"
    )
    assert [p.severity for p in routed] == [ERROR]


def test_the_corpus_files_are_rule_files() -> None:
    assert rule_count() >= 500
    for path in CORPUS.rglob("*.y*ml"):
        assert yaml.safe_load_all(path.read_text())
