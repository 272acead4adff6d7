"""promtool unit-test files from the spec's ``tests`` section."""

from __future__ import annotations

from typing import Any

from jobpulse.spec import wire
from jobpulse.spec.model import Spec


def test_group(test: wire.AlertTestSpec) -> dict[str, Any]:
    """One promtool test group; the spec's format is promtool's, so this is close to a dump."""
    group: dict[str, Any] = {"name": test.name, "interval": test.interval}
    group["input_series"] = [{"series": s.series, "values": s.values} for s in test.input_series]
    if test.alert_rule_test:
        group["alert_rule_test"] = [
            {
                "eval_time": case.eval_time,
                "alertname": case.alertname,
                "exp_alerts": [
                    {"exp_labels": dict(e.exp_labels), "exp_annotations": dict(e.exp_annotations)}
                    for e in case.exp_alerts
                ],
            }
            for case in test.alert_rule_test
        ]
    if test.promql_expr_test:
        group["promql_expr_test"] = [
            {
                "expr": case.expr,
                "eval_time": case.eval_time,
                "exp_samples": [{"labels": s.labels, "value": s.value} for s in case.exp_samples],
            }
            for case in test.promql_expr_test
        ]
    return group


def test_file(spec: Spec, rule_file: str, tests: list[wire.AlertTestSpec] | None = None) -> dict[str, Any]:
    """A promtool test file for ``rule_file`` (a path relative to the test file)."""
    return {
        "rule_files": [rule_file],
        "evaluation_interval": spec.service.evaluation_interval,
        "tests": [test_group(t) for t in (spec.tests if tests is None else tests)],
    }
