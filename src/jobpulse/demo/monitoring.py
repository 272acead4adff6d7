"""Prometheus + Alertmanager for the demo: loopback only, free ports, the build's rule file."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobpulse.spec.slo import duration_seconds
from jobpulse.verify.binaries import find_binary, install_hint
from jobpulse.verify.servers import (
    AlertmanagerServer,
    PrometheusServer,
    ServerStartError,
    prometheus_config,
    scrape_config,
)
from jobpulse.verify.timescale import SpeedClock, compress_rules
from jobpulse.verify.victoriametrics import VictoriaMetricsServer, VMAgentServer, VMAlertServer

__all__ = [
    "Monitoring",
    "StatusWebhook",
    "VictoriaMetricsView",
    "demo_alertmanager_config",
    "demo_rule_file",
    "start_monitoring",
]


@dataclass
class Monitoring:
    """What was started (either may be None) and notes on what was skipped and why."""

    prometheus: PrometheusServer | None = None
    alertmanager: AlertmanagerServer | None = None
    notes: list[str] = field(default_factory=list)
    #: ``--tsdb victoria-metrics``: the store, its scraper and its ruler instead of Prometheus
    victoria: VictoriaMetricsServer | None = None
    vmagent: VMAgentServer | None = None
    vmalert: VMAlertServer | None = None

    @property
    def servers(self) -> list[Any]:
        return [self.prometheus, self.vmalert, self.vmagent, self.victoria, self.alertmanager]

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers if s is not None and s.pid is not None]

    @property
    def store(self) -> PrometheusServer | VictoriaMetricsView | None:
        """What the live view queries: Prometheus, or VictoriaMetrics with vmalert's alerts."""
        if self.prometheus is not None:
            return self.prometheus
        if self.victoria is not None and self.vmalert is not None:
            return VictoriaMetricsView(self.victoria, self.vmalert)
        return None

    def stop(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL after 10 s); safe to call more than once."""
        for server in self.servers:
            if server is not None:
                server.stop()


@dataclass(frozen=True)
class VictoriaMetricsView:
    """Queries answered by VictoriaMetrics (MetricsQL), alerts by vmalert."""

    victoria: VictoriaMetricsServer
    vmalert: VMAlertServer

    @property
    def url(self) -> str:
        return self.victoria.url

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]:
        return self.victoria.query(promql, time)

    def alerts(self) -> list[dict[str, Any]]:
        return self.vmalert.alerts()


def demo_rule_file(rule_file: Path, workdir: Path, interval: str, clock: SpeedClock | None = None) -> Path:
    """A copy of the generated rule file whose groups are evaluated every ``interval``.

    The spec's groups carry their own ``interval`` (which wins over the global evaluation
    interval); the demo evaluates faster so pending alerts show up within seconds. With a ``clock``
    faster than real time (``jobpulse demo --speed``) every duration of the rules shrinks with it
    (:func:`jobpulse.verify.timescale.compress_rules`).
    """
    data: dict[str, Any] = yaml.safe_load(rule_file.read_text()) or {}
    for group in data.get("groups") or []:
        group["interval"] = interval
    note = f"every group evaluated each {interval}"
    if clock is not None and clock.speed != 1.0:
        # rate() over a range still sees a few samples; `for` still spans a few scrapes
        floor = 4 * float(duration_seconds(interval))
        data = compress_rules(data, clock.speed, origin=clock.origin, interval=interval, min_range=floor, min_for=floor)
        note += f", every duration divided by {clock.speed:g} (time runs {clock.speed:g}x faster)"
    out = workdir / "rules" / rule_file.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# {rule_file} with {note} (jobpulse demo).\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    return out


@dataclass(frozen=True)
class StatusWebhook:
    """Where the demo's app serves the status page's webhook, and the file holding its bearer token."""

    url: str
    token_file: Path


def demo_alertmanager_config(text: str, status: StatusWebhook | None, *, group_wait: str, group_interval: str) -> str:
    """The build's ``alertmanager.yml`` for the demo: the status page's receiver points at the demo's app, and
    groups are sent within seconds (``group_wait``) and re-sent on change every ``group_interval``."""
    data: dict[str, Any] = yaml.safe_load(text) or {}
    route = data.setdefault("route", {})
    route["group_wait"], route["group_interval"] = group_wait, group_interval
    if status is not None:
        for receiver in data.get("receivers") or []:
            for webhook in receiver.get("webhook_configs") or []:
                authorization = (webhook.get("http_config") or {}).get("authorization") or {}
                if receiver.get("name") == "status-page" and "credentials_file" in authorization:
                    webhook["url"] = status.url
                    authorization["credentials_file"] = str(status.token_file)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def start_monitoring(
    *,
    rule_file: Path,
    job_name: str,
    target: str,
    workdir: Path,
    interval: str = "5s",
    metrics_paths: tuple[str, ...] = ("/metrics",),
    alertmanager_config: Path | None = None,
    status_webhook: StatusWebhook | None = None,
    clock: SpeedClock | None = None,
    admin_api: bool = False,
    tsdb: str = "prometheus",
    targets: Mapping[str, Mapping[str, str]] | None = None,
) -> Monitoring:
    """Start Alertmanager and Prometheus (or, with ``tsdb="victoria-metrics"``, VictoriaMetrics, vmagent and
    vmalert) if their binaries are installed (blocking, ~1-2 s).

    A missing binary or a server that does not come up is reported in ``notes``, not raised:
    the demo goes on without it. ``targets`` (``host:port`` → target labels) scrapes several apps in one job
    instead of ``target``, each with its labels (a rollout's ``track``).
    """
    monitoring = Monitoring()
    store = "victoria-metrics" if tsdb == "victoria-metrics" else "prometheus"
    prometheus_bin = find_binary(store)
    alertmanager_bin = find_binary("alertmanager")
    if prometheus_bin is None:
        monitoring.notes.append(f"{store} not installed, skipped (with Alertmanager): {install_hint(store)}")
        return monitoring
    try:
        alertmanager_url: str | None = None
        if alertmanager_bin is None:
            monitoring.notes.append(f"Alertmanager not installed, skipped: {install_hint('alertmanager')}")
        else:
            try:
                # the build's own routing tree (receivers per severity, inhibitions), when there is one
                am_config = (
                    demo_alertmanager_config(
                        alertmanager_config.read_text(), status_webhook, group_wait="2s", group_interval=interval
                    )
                    if alertmanager_config is not None and alertmanager_config.exists()
                    else None
                )
                monitoring.alertmanager = AlertmanagerServer(
                    config=am_config, workdir=workdir / "alertmanager", binary=alertmanager_bin
                ).start()
                alertmanager_url = monitoring.alertmanager.url
            except ServerStartError as exc:
                monitoring.alertmanager = None
                monitoring.notes.append(f"Alertmanager did not start, skipped: {exc}")
        scrape_configs = [
            scrape_config(
                job_name if path == "/metrics" else f"{job_name}{path.replace('/', '-')}",
                target,
                interval=interval,
                metrics_path=path,
            )
            for path in metrics_paths
        ]
        for scrape in scrape_configs if targets else ():
            scrape["static_configs"] = [
                {"targets": [t], "labels": dict(labels)} for t, labels in (targets or {}).items()
            ]
        config = prometheus_config(
            scrape_configs=scrape_configs,
            evaluation_interval=interval,
            alertmanager_url=alertmanager_url,
        )
        rules = demo_rule_file(rule_file, workdir, interval, clock)
        if store == "victoria-metrics":
            _start_victoria(monitoring, scrape_configs, rules, workdir, interval, alertmanager_url)
            return monitoring
        try:
            monitoring.prometheus = PrometheusServer(
                config=config,
                rule_files=[rules],
                workdir=workdir / "prometheus",
                binary=prometheus_bin,
                admin_api=admin_api,
            ).start()
        except ServerStartError as exc:
            monitoring.prometheus = None
            monitoring.notes.append(f"Prometheus did not start, skipped: {exc}")
            if monitoring.alertmanager is not None:  # nothing would send it alerts
                monitoring.alertmanager.stop()
                monitoring.alertmanager = None
    except BaseException:
        with contextlib.suppress(Exception):
            monitoring.stop()
        raise
    return monitoring


def _start_victoria(
    monitoring: Monitoring,
    scrape_configs: list[dict[str, Any]],
    rules: Path,
    workdir: Path,
    interval: str,
    alertmanager_url: str | None,
) -> None:
    """VictoriaMetrics, vmagent scraping the app into it and vmalert evaluating the build's rules."""
    if alertmanager_url is None:
        monitoring.notes.append("vmalert needs an Alertmanager to send to: VictoriaMetrics skipped too")
        return
    missing = [name for name in ("vmagent", "vmalert") if find_binary(name) is None]
    if missing:
        hint = install_hint("vmalert")
        monitoring.notes.append(f"{', '.join(missing)} not installed, VictoriaMetrics skipped: {hint}")
        return
    try:
        # the newest samples are visible after one scrape, not after VictoriaMetrics' default 30 s
        monitoring.victoria = VictoriaMetricsServer(workdir=workdir / "victoria-metrics", latency_offset=interval)
        monitoring.victoria.start()
        monitoring.vmagent = VMAgentServer(
            config={"global": {"scrape_interval": interval}, "scrape_configs": scrape_configs},
            remote_write_url=monitoring.victoria.write_url,
            workdir=workdir / "vmagent",
        ).start()
        monitoring.vmalert = VMAlertServer(
            rule_files=[rules],
            datasource_url=monitoring.victoria.url,
            notifier_url=alertmanager_url,
            evaluation_interval=interval,
            workdir=workdir / "vmalert",
        ).start()
        monitoring.notes.append(
            f"VictoriaMetrics runs with -search.latencyOffset={interval} (its default, 30s, holds every alert "
            "back by about 30 s: docs/scaling.md)"
        )
    except ServerStartError as exc:
        monitoring.notes.append(f"VictoriaMetrics did not start, skipped: {exc}")
        for server in (monitoring.vmalert, monitoring.vmagent, monitoring.victoria, monitoring.alertmanager):
            if server is not None:
                server.stop()
        monitoring.victoria = monitoring.vmagent = monitoring.vmalert = None
        monitoring.alertmanager = None
