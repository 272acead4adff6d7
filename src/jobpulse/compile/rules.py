"""Prometheus rule groups (alerting rules) from the spec, as plain data."""

from __future__ import annotations

from typing import Any

from jobpulse.compile.canary_rules import canary_groups
from jobpulse.compile.llm_rules import llm_groups
from jobpulse.compile.slo_rules import slo_groups
from jobpulse.spec.model import Alert, Spec


def alert_rule(alert: Alert) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
    if alert.for_:
        rule["for"] = alert.for_
    if alert.keep_firing_for:
        rule["keep_firing_for"] = alert.keep_firing_for
    rule["labels"] = alert.all_labels
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": alert.runbook_url,
    }
    return rule


def rule_groups(spec: Spec) -> dict[str, Any]:
    """The content of ``prometheus/<service>.rules.yml``."""
    groups: list[dict[str, Any]] = []
    if spec.alerts:
        groups.append(
            {
                "name": f"{spec.service.name}.alerts",
                "interval": spec.service.evaluation_interval,
                "rules": [alert_rule(a) for a in spec.alerts],
            }
        )
    groups += slo_groups(spec)
    groups += llm_groups(spec)
    groups += canary_groups(spec)
    return {"groups": groups}
