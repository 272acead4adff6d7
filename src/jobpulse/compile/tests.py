"""promtool unit-test files from the spec's ``tests`` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobpulse.spec import wire
from jobpulse.spec.model import Spec


@dataclass(frozen=True)
class TestGroup:
    """One promtool test group and the evaluation interval it is run with."""

    body: dict[str, Any]
    evaluation_interval: str
    rule_group: str | None = None  # the one rule group it tests (``jobpulse test`` loads only that one)

    @property
    def name(self) -> str:
        return str(self.body["name"])


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


def test_file(rule_file: str, evaluation_interval: str, groups: list[TestGroup]) -> dict[str, Any]:
    """A promtool test file for ``rule_file`` (a path relative to the test file)."""
    return {
        "rule_files": [rule_file],
        "evaluation_interval": evaluation_interval,
        "tests": [g.body for g in groups],
    }


def test_files(spec: Spec, rule_file: str, groups: list[TestGroup]) -> dict[str, dict[str, Any]]:
    """Test files by name: one per evaluation interval (``<service>.tests.yml`` for the spec's own)."""
    intervals = sorted({g.evaluation_interval for g in groups}, key=lambda i: i != spec.service.evaluation_interval)
    files: dict[str, dict[str, Any]] = {}
    for interval in intervals:
        name = (
            spec.service.name
            if interval == spec.service.evaluation_interval
            else f"{spec.service.name}.eval-{interval}"
        )
        files[f"tests/{name}.tests.yml"] = test_file(
            rule_file, interval, [g for g in groups if g.evaluation_interval == interval]
        )
    return files
