"""End to end with real Prometheus and Alertmanager: a fault fires an alert, Alertmanager's webhook opens an
incident on the page within one group interval and the component degrades; the fault ends and the incident
resolves into the history; a restarted status service still has it all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from jobpulse import Telemetry
from jobpulse.compile import compile_spec
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from jobpulse.status import StatusApp, StatusService
from jobpulse.verify.servers import AlertmanagerServer, PrometheusServer, prometheus_config, scrape_config, wait_for
from tests.datastores_fixtures import serve
from tests.status.helpers import TOKEN

pytestmark = pytest.mark.integration

SPEC = """\
version: jobpulse/v1
service: {name: shop, title: Shop, scrape_interval: 1s, evaluation_interval: 1s}
metrics:
  - name: shop_queue_depth
    type: gauge
    help: Jobs waiting.
  - name: shop_jobs_total
    type: counter
    help: Jobs done.
  - name: shop_jobs_failed_total
    type: counter
    help: Jobs failed.
alerts:
  - name: QueueStuck
    expr: shop_queue_depth > 10
    severity: critical
    summary: 'Jobs are stuck <b>in the queue</b>'
    description: 'Queue depth is {{ $value }}.'
slos:
  - name: jobs
    description: 95% of jobs succeed
    objective: 95
    sli: {events: {bad: shop_jobs_failed_total, total: shop_jobs_total}}
status_page:
  title: Shop status
  components:
    - {name: api, title: API, alerts: []}
    - {name: workers, title: Workers, alerts: [QueueStuck], slos: [jobs]}
"""
GROUP_WAIT, GROUP_INTERVAL = 1.0, 4.0


def _app(telemetry: Telemetry, service: StatusService) -> Starlette:
    """The status page mounted in an ordinary Starlette app next to its /metrics."""
    status = StatusApp(service, token=TOKEN)
    return Starlette(routes=[Route("/metrics", telemetry.metrics_app()), *status.routes()])


@contextmanager
def _status_app(spec_path: Path, db: Path) -> Iterator[tuple[str, Telemetry, StatusService]]:
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry())
    service = StatusService(load_spec(spec_path), db, slo_cache_seconds=0)
    try:
        with serve(_app(telemetry, service)) as url:
            yield url, telemetry, service
    finally:
        service.close()


def _alertmanager_config(spec_path: Path, url: str, token_file: Path) -> dict[str, Any]:
    config: dict[str, Any] = compile_spec(load_spec(spec_path)).get("alertmanager/alertmanager.yml").content
    route = config["route"]
    route.update(group_wait=f"{GROUP_WAIT:g}s", group_interval=f"{GROUP_INTERVAL:g}s", repeat_interval="1h")
    [receiver] = [r for r in config["receivers"] if r["name"] == "status-page"]
    webhook = receiver["webhook_configs"][0]
    webhook["url"] = f"{url}/status/webhook/alertmanager"
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


def test_a_fault_opens_an_incident_and_its_end_resolves_it(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str
) -> None:
    spec_path = tmp_path / "jobpulse.yaml"
    spec_path.write_text(SPEC)
    (tmp_path / "token").write_text(TOKEN + "\n")
    rules = tmp_path / "build"
    write_build(compile_spec(load_spec(spec_path)), rules)
    db = tmp_path / "status.db"
    with _status_app(spec_path, db) as (url, telemetry, service):
        alertmanager = AlertmanagerServer(
            config=_alertmanager_config(spec_path, url, tmp_path / "token"),
            workdir=tmp_path / "am",
            binary=alertmanager_bin,
        ).start()
        prometheus = PrometheusServer(
            config=prometheus_config(
                scrape_configs=[scrape_config("shop", url, interval="1s")],
                evaluation_interval="1s",
                alertmanager_url=alertmanager.url,
            ),
            rule_files=[rules / "prometheus" / "shop.rules.yml"],
            workdir=tmp_path / "prom",
            binary=prometheus_bin,
        ).start()
        try:
            with httpx.Client(base_url=url, timeout=5) as client:
                gauge = telemetry.metric("shop_queue_depth")
                gauge.set(3)
                wait_for(lambda: prometheus.query("shop_queue_depth"), timeout=30)
                assert client.get("/status/incidents").json()["incidents"] == []
                # the SLO: 1 failed job of 100 against a 95% objective, read from Prometheus' recording rules
                service.read_slos_from(prometheus.url)
                telemetry.metric("shop_jobs_total").inc(100)
                telemetry.metric("shop_jobs_failed_total").inc(1)
                slo = wait_for(lambda: _slo(client) if (_slo(client) or {}).get("attainment") else None, timeout=30)
                assert 98.5 < slo["attainment"] < 99.5, slo
                assert 0.7 < slo["error_budget_remaining"] < 0.9, slo
                assert "95% of jobs succeed" in client.get("/status").text

                gauge.set(50)  # the fault
                firing = wait_for(lambda: [a for a in prometheus.alerts() if a["state"] == "firing"], timeout=30)
                fired_at = time.monotonic()
                incidents = wait_for(
                    lambda: client.get("/status/incidents").json()["incidents"], timeout=30, interval=0.2
                )
                shown_after = time.monotonic() - fired_at
                # Prometheus sends alerts to Alertmanager on its next evaluation; Alertmanager waits group_wait
                assert shown_after <= GROUP_INTERVAL, f"the incident took {shown_after:.1f}s (firing: {firing})"
                [incident] = incidents
                assert incident["name"] == "Jobs are stuck <b>in the queue</b>"
                assert incident["status"] == "investigating" and incident["impact"] == "critical"
                assert incident["alerts"][0]["alertname"] == "QueueStuck"
                summary = client.get("/status/api/v2/summary.json").json()
                assert {c["id"]: c["status"] for c in summary["components"]} == {
                    "api": "operational",
                    "workers": "major_outage",
                }
                page = client.get("/status").text
                assert "Jobs are stuck &lt;b&gt;in the queue&lt;/b&gt;" in page and "<b>in the queue" not in page

                gauge.set(0)  # the fault ends
                history = wait_for(
                    lambda: client.get("/status/history").json()["incidents"], timeout=GROUP_INTERVAL * 3 + 20
                )
                assert [i["id"] for i in history] == [incident["id"]]
                assert history[0]["status"] == "resolved" and history[0]["resolved_at"]
                assert client.get("/status/incidents").json()["incidents"] == []
                summary = client.get("/status/api/v2/summary.json").json()
                assert summary["status"]["indicator"] == "none"
                # a repeat delivery from Alertmanager (its retries, repeat_interval) leaves exactly one incident
                deliveries = _deliveries(db)
                assert deliveries["opened"] == 1 and deliveries["resolved"] == 1
        finally:
            prometheus.stop()
            alertmanager.stop()
    # the status service restarts on the same storage: nothing lost
    with _status_app(spec_path, db) as (url, _telemetry, _service):
        history = httpx.get(url + "/status/history").json()["incidents"]
        assert [i["id"] for i in history] == [incident["id"]]
        assert [u["status"] for u in history[0]["incident_updates"]] == ["resolved", "investigating"]
        assert "Jobs are stuck" in httpx.get(url + "/status").text


def _slo(client: httpx.Client) -> dict[str, Any] | None:
    components = client.get("/status/api/v2/components.json").json()["components"]
    workers = next(c for c in components if c["id"] == "workers")
    return workers["slos"][0] if workers["slos"] else None


def _deliveries(db: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT action, count(*) FROM deliveries GROUP BY action").fetchall()
    return dict(rows)
