"""Builders for lint test inputs: a catalogue spec, rule files, dashboards and monitors."""

from __future__ import annotations

import json
from typing import Any

import yaml

from jobpulse.lint.catalogue import Catalogue, load_catalogue
from jobpulse.lint.online import PrometheusAPI
from jobpulse.lint.problem import Problem
from jobpulse.lint.runner import lint_text

CATALOGUE_SPEC = """\
version: jobpulse/v1
service:
  name: shop
  scrape_interval: 30s
metrics:
  - name: http_requests_total
    type: counter
    help: Requests.
    labels:
      status: {values: [ok, error]}
      route: {max_values: 20}
  - name: http_request_duration_seconds
    type: histogram
    unit: seconds
    help: Request latency.
    labels:
      route: {max_values: 20}
    buckets: [0.1, 1, 10]
  - name: queue_depth
    type: gauge
    help: Jobs waiting.
    labels:
      queue: {values: [default, high]}
"""

GOOD_ANNOTATIONS = {"summary": "Something is wrong", "description": "Value {{ $value }}", "runbook_url": "docs/r.md#x"}


def catalogue(text: str = CATALOGUE_SPEC) -> Catalogue:
    return load_catalogue(text, "catalogue.yaml")


def rules(expr: str, **fields: Any) -> str:
    """A rule file with one alert, well formed apart from what ``fields`` override (None removes a field)."""
    rule: dict[str, Any] = {
        "alert": "TestAlert",
        "expr": expr,
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": dict(GOOD_ANNOTATIONS),
    }
    for key, value in fields.items():
        key = key.rstrip("_")
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
    return yaml.safe_dump({"groups": [{"name": "test", "rules": [rule]}]}, sort_keys=False)


def panel(expr: str, panel_id: int = 1, **fields: Any) -> dict[str, Any]:
    source = {"type": "prometheus", "uid": "${datasource}"}
    data: dict[str, Any] = {
        "id": panel_id,
        "type": "timeseries",
        "title": f"Panel {panel_id}",
        "datasource": source,
        "fieldConfig": {"defaults": {"unit": "short"}},
        "targets": [{"refId": "A", "expr": expr, "datasource": source}],
    }
    data.update(fields)
    return data


def dashboard(*panels: dict[str, Any], **fields: Any) -> str:
    data: dict[str, Any] = {
        "title": "Test",
        "uid": "test-dashboard",
        "schemaVersion": 39,
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": list(panels) or [panel("sum(rate(http_requests_total[$__rate_interval]))")],
    }
    data.update(fields)
    return json.dumps(data, indent=2)


def monitor(query: str, critical: float | None, **thresholds: float) -> str:
    data: dict[str, Any] = {"name": "Test monitor", "type": "metric alert", "query": query, "message": "m"}
    if critical is not None:
        thresholds = {"critical": critical, **thresholds}
    if thresholds:
        data["options"] = {"thresholds": thresholds}
    return json.dumps(data, indent=2)


def lint(
    text: str,
    file: str = "rules.yml",
    *,
    with_catalogue: bool = True,
    online: PrometheusAPI | None = None,
    spec: str = CATALOGUE_SPEC,
) -> list[Problem]:
    return lint_text(text, file, catalogue=catalogue(spec) if with_catalogue else None, online=online)[0]


def found(problems: list[Problem], check: str) -> list[Problem]:
    return [p for p in problems if p.check == check]
