"""Run real Prometheus and Alertmanager processes on loopback, for tests, ``jobpulse demo`` and backtests.

Both listen on ``127.0.0.1`` only (a hard rule of the project): the web address is always
``127.0.0.1:<port>`` and Alertmanager's gossip listener is switched off. They are
:class:`~jobpulse.verify.process.HttpServer` subclasses (the one harness every test server uses), and talk to
their API through :mod:`jobpulse.prometheus_api` (standard library only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from jobpulse.prometheus_api import PrometheusAPI, PrometheusAPIError
from jobpulse.verify.process import LOOPBACK, HttpServer, ServerStartError, end_process, free_port, log_tail, wait_for

__all__ = [
    "AlertmanagerServer",
    "PrometheusAPIError",
    "PrometheusServer",
    "ServerStartError",
    "free_port",
    "prometheus_config",
    "scrape_config",
    "wait_for",
]
__all__ += ["DEFAULT_ALERTMANAGER_CONFIG", "LOOPBACK", "end_process", "log_tail"]

#: Used by :class:`AlertmanagerServer` when no config is given: every alert goes to a receiver
#: that notifies nobody, which is all that is needed to inspect alerts through the API.
DEFAULT_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "route": {"receiver": "null", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
    "receivers": [{"name": "null"}],
}


def scrape_config(
    job: str,
    target: str,
    interval: str = "15s",
    metrics_path: str = "/metrics",
    bearer_token: str | None = None,
) -> dict[str, Any]:
    """One ``scrape_configs`` entry; ``target`` is ``host:port`` or a ``http(s)://host:port`` URL."""
    scheme = "http"
    if "://" in target:
        parts = urlsplit(target)
        scheme, target = parts.scheme, parts.netloc
    config: dict[str, Any] = {
        "job_name": job,
        "scrape_interval": interval,
        "metrics_path": metrics_path,
        "scheme": scheme,
        "static_configs": [{"targets": [target]}],
    }
    if bearer_token is not None:
        config["authorization"] = {"type": "Bearer", "credentials": bearer_token}
    return config


def prometheus_config(
    *,
    scrape_configs: Sequence[dict[str, Any]],
    rule_files: Iterable[str | Path] = (),
    evaluation_interval: str = "15s",
    alertmanager_url: str | None = None,
) -> dict[str, Any]:
    """A whole ``prometheus.yml`` as a dict."""
    config: dict[str, Any] = {
        "global": {"evaluation_interval": evaluation_interval},
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": list(scrape_configs),
    }
    if alertmanager_url is not None:
        parts = urlsplit(alertmanager_url)
        alertmanager: dict[str, Any] = {
            "scheme": parts.scheme or "http",
            "static_configs": [{"targets": [parts.netloc]}],
        }
        if parts.path.strip("/"):
            alertmanager["path_prefix"] = parts.path
        config["alerting"] = {"alertmanagers": [alertmanager]}
    return config


def _dump(config: dict[str, Any] | str) -> str:
    return config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)


class PrometheusServer(HttpServer):
    """``with PrometheusServer(config=..., workdir=tmp) as prometheus: prometheus.query("up")``."""

    name = "prometheus"
    binary_name = "prometheus"
    config_name = "prometheus.yml"

    def __init__(
        self,
        *,
        config: dict[str, Any] | str,
        rule_files: Iterable[Path] = (),
        workdir: Path,
        port: int | None = None,
        binary: str | None = None,
        admin_api: bool = False,
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.config = config
        self.rule_files = [Path(p) for p in rule_files]
        self._api: PrometheusAPI | None = None
        #: ``--web.enable-admin-api``: :meth:`delete_all_series` (tests that run scenarios one after another)
        self.admin_api = admin_api

    def write_config(self) -> Path:
        config = self.config
        if self.rule_files:
            loaded = yaml.safe_load(config) if isinstance(config, str) else dict(config)
            existing = list(loaded.get("rule_files") or [])
            extra = [str(p.resolve()) for p in self.rule_files]
            loaded["rule_files"] = existing + [p for p in extra if p not in existing]
            config = loaded
        path = self.workdir / self.config_name
        path.write_text(_dump(config))
        return path

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
            *(["--web.enable-admin-api"] if self.admin_api else []),
        ]

    @property
    def api(self) -> PrometheusAPI:
        """The server's ``/api/v1`` (set ``api.timeout`` for long queries; 10 s by default)."""
        if self._api is None or self._api.url != self.url:
            self._api = PrometheusAPI(self.url, timeout=10.0)
        return self._api

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query; returns ``data.result`` (for a scalar/string result, the ``[ts, value]`` pair)."""
        return self.api.query(promql, time)

    def query_range(self, promql: str, start: float, end: float, step: float | str = "1s") -> list[dict[str, Any]]:
        """Range query (``start``/``end`` as Unix timestamps); returns ``data.result``."""
        return self.api.query_range(promql, start, end, step)

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts, from ``/api/v1/alerts``."""
        return self.api.alerts()

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups with their rules' health and last evaluation, from ``/api/v1/rules``."""
        return self.api.rules()

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (``health``, ``lastError``, ...), from ``/api/v1/targets``."""
        return self.api.targets()

    def delete_all_series(self) -> None:
        """Forget every stored sample (admin API): windows start empty, as on a fresh server."""
        if not self.admin_api:
            raise RuntimeError("delete_all_series needs PrometheusServer(admin_api=True)")
        self.http.request(
            "POST", "/api/v1/admin/tsdb/delete_series", params={"match[]": '{__name__=~".+"}'}
        ).raise_for_status()
        self.http.post("/api/v1/admin/tsdb/clean_tombstones").raise_for_status()

    def reload(self) -> None:
        """Re-read the config and rule files (``POST /-/reload``)."""
        self.write_config()
        self.http.post("/-/reload").raise_for_status()


class AlertmanagerServer(HttpServer):
    """``with AlertmanagerServer(workdir=tmp) as alertmanager: alertmanager.alerts(active="true")``."""

    name = "alertmanager"
    binary_name = "alertmanager"
    config_name = "alertmanager.yml"

    def __init__(
        self,
        *,
        config: dict[str, Any] | str | None = None,
        workdir: Path,
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.config = DEFAULT_ALERTMANAGER_CONFIG if config is None else config

    def write_config(self) -> Path:
        path = self.workdir / self.config_name
        path.write_text(_dump(self.config))
        return path

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [
            f"--config.file={config_file}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            # Empty value disables the gossip cluster, which would otherwise bind 0.0.0.0:9094.
            "--cluster.listen-address=",
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds, from ``/api/v2/alerts`` (e.g. ``alerts(active="true")``)."""
        response = self.http.get("/api/v2/alerts", filters).raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts
