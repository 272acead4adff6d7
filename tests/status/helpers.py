"""A small spec with a status page, and Alertmanager webhook payloads shaped as Alertmanager 0.25 sends them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from jobpulse.spec.load import load_spec_text
from jobpulse.spec.model import Spec

SPEC = """\
version: jobpulse/v1
service: {name: shop, title: Shop}
metrics:
  - name: http_requests_total
    type: counter
    help: Requests.
    labels:
      code: {values: ["200", "500"]}
  - name: jobs_failed_total
    type: counter
    help: Failed jobs.
alerts:
  - name: ApiDown
    expr: sum(rate(http_requests_total{code="500"}[1m])) > 1
    severity: critical
    summary: API down
    description: The API fails.
  - name: ApiSlow
    expr: sum(rate(http_requests_total[1m])) > 100
    severity: warning
    summary: API slow
    description: The API is slow.
  - name: JobsFailing
    expr: sum(rate(jobs_failed_total[1m])) > 0
    severity: warning
    summary: Jobs failing
    description: Jobs fail.
  - name: InternalOnly
    expr: sum(rate(jobs_failed_total[1m])) > 10
    severity: warning
    summary: Not public
    description: Not shown on the page.
slos:
  - name: api-availability
    description: 99.9% of API requests succeed
    objective: 99.9
    sli:
      events:
        bad: 'http_requests_total{code="500"}'
        total: http_requests_total
status_page:
  title: Shop status
  url: https://status.example.com
  components:
    - name: api
      title: API
      description: The public HTTP API
      checks: [postgres]
      slos: [api-availability]
      alerts: [ApiDown, ApiSlow]
    - name: workers
      title: Workers
      heartbeats: {min_workers: 2}
      alerts: [JobsFailing]
"""

TOKEN = "hook-token-1234567890"
ZERO = "0001-01-01T00:00:00Z"


def spec(text: str = SPEC) -> Spec:
    return load_spec_text(text, "shop.yaml")


def alert(
    name: str = "ApiDown",
    *,
    status: str = "firing",
    fingerprint: str | None = None,
    starts: str = "2026-12-06T10:00:00.123456789Z",
    ends: str = ZERO,
    severity: str = "critical",
    summary: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "shop", **labels},
        "annotations": {"summary": summary if summary is not None else f"{name} summary", "description": "d"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or uuid.uuid5(uuid.NAMESPACE_DNS, name + json.dumps(labels)).hex[:16],
    }


def payload(*alerts: dict[str, Any], group_key: str = '{}:{alertname="ApiDown"}') -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    return {
        "receiver": "status-page",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


def write_spec(directory: Path, text: str = SPEC) -> Path:
    path = directory / "jobpulse.yaml"
    path.write_text(text)
    return path
