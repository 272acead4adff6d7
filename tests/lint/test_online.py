"""``jobpulse lint --online``: the online/series check against a real Prometheus scraping a real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from jobpulse.cli.main import cli
from jobpulse.verify.servers import PrometheusServer, free_port, prometheus_config, scrape_config

RULES = """\
groups:
  - name: online
    rules:
      - alert: KnownSeries
        expr: sum(rate(shop_orders_total{status="ok"}[1m])) > 100 and on() shop_queue_depth > 5
        for: 5m
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
      - alert: WrongLabelValue
        expr: sum(rate(shop_orders_total{status="failed"}[1m])) > 1
        for: 5m
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
      - alert: MissingMetric
        expr: sum(rate(shop_order_total[1m])) > 1
        for: 5m
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
      - record: shop:orders:rate1m
        expr: sum(rate(shop_orders_total[1m]))
      - alert: UsesTheRecordingRule
        expr: shop:orders:rate1m > 100
        for: 5m
        labels: {severity: warning}
        annotations: {summary: s, description: d, runbook_url: r}
"""


@pytest.fixture(scope="module")
def prometheus(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    registry = CollectorRegistry()
    Counter("shop_orders", "Orders.", ["status"], registry=registry).labels(status="ok").inc(3)
    Gauge("shop_queue_depth", "Orders waiting.", registry=registry).set(2)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    workdir = tmp_path_factory.mktemp("prometheus-lint")
    config = prometheus_config(scrape_configs=[scrape_config("shop", f"127.0.0.1:{port}", interval="1s")])
    try:
        with PrometheusServer(config=config, workdir=workdir, binary=prometheus_bin) as prom:
            prom.wait_for(lambda: prom.query("shop_queue_depth"), timeout=20)
            yield prom
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.integration
def test_online_series_reports_missing_metrics_and_label_values(prometheus: PrometheusServer, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    result = CliRunner().invoke(cli, ["lint", "--online", prometheus.url, str(rules)], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # online/series is a warning
    reported = [line for line in result.output.splitlines() if " online/series " in line]
    assert reported == [
        f"{rules}:10:24: warning online/series {prometheus.url} has shop_orders_total, but no series matching "
        'shop_orders_total{status="failed"}',
        f"{rules}:15:24: warning online/series {prometheus.url} has no series named shop_order_total",
    ]


@pytest.mark.integration
def test_without_online_the_check_does_not_run(prometheus: PrometheusServer, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    result = CliRunner().invoke(cli, ["lint", str(rules)], catch_exceptions=False)
    assert "online/series" not in result.output
