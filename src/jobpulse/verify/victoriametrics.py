"""VictoriaMetrics single node, vmagent and vmalert on loopback: the same harness as Prometheus'.

- :class:`VictoriaMetricsServer` stores samples and answers the Prometheus query API (MetricsQL);
- :class:`VMAgentServer` scrapes a Prometheus ``scrape_configs`` file and remote-writes to it;
- :class:`VMAlertServer` evaluates Prometheus rule files against it, writes recording rules and ``ALERTS``
  back, and sends alerts to Alertmanager.

Debian's ``victoria-metrics`` package ships all three (``scripts/install-system-deps.sh`` installs it). Every
listener is ``127.0.0.1:<port>``; none of the optional ingestion listeners (Graphite, InfluxDB, OpenTSDB) is
switched on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jobpulse.prometheus_api import PrometheusAPI
from jobpulse.verify.process import LOOPBACK, HttpServer
from jobpulse.verify.servers import _dump

__all__ = ["DEFAULT_LATENCY_OFFSET", "VMAgentServer", "VMAlertServer", "VictoriaMetricsServer"]

#: VictoriaMetrics' own default for ``-search.latencyOffset``: the newest 30 s are hidden from queries
DEFAULT_LATENCY_OFFSET = "30s"


class _PrometheusStyleAPI(HttpServer):
    """A server whose ``/api/v1`` answers the Prometheus way: :attr:`api` is a :class:`PrometheusAPI` on it."""

    _api_client: PrometheusAPI | None = None

    @property
    def api(self) -> PrometheusAPI:
        if self._api_client is None or self._api_client.url != self.url:
            self._api_client = PrometheusAPI(self.url, timeout=10.0)
        return self._api_client


class VictoriaMetricsServer(_PrometheusStyleAPI):
    """Single-node VictoriaMetrics: remote write at ``/api/v1/write``, queries at ``/api/v1/query``."""

    name = "victoria-metrics"
    binary_name = "victoria-metrics"
    config_name = "victoria-metrics.flags"

    def __init__(
        self,
        *,
        workdir: Path,
        port: int | None = None,
        binary: str | None = None,
        latency_offset: str = DEFAULT_LATENCY_OFFSET,
        extra_args: Iterable[str] = (),
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.latency_offset = latency_offset
        self.extra_args = list(extra_args)

    def write_config(self) -> Path:
        # VictoriaMetrics takes flags only; the file records them for whoever reads the workdir
        path = self.workdir / self.config_name
        path.write_text("\n".join(self._flags()) + "\n")
        return path

    def _flags(self) -> list[str]:
        return [
            f"-storageDataPath={self.workdir / 'data'}",
            f"-search.latencyOffset={self.latency_offset}",
            *self.extra_args,
        ]

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [f"-httpListenAddr={LOOPBACK}:{port}", *self._flags()]

    @property
    def write_url(self) -> str:
        """Where vmagent and vmalert remote-write to."""
        return f"{self.url}/api/v1/write"

    def query(self, promql: str, time: float | None = None, step: str | None = None) -> list[dict[str, Any]]:
        """Instant MetricsQL query; returns ``data.result``.

        ``step`` is how far back VictoriaMetrics looks for a series' last sample (at least its staleness
        interval, about 1.5 times the interval between samples); vmalert sends its ``-datasource.queryStep``
        (5m by default in 1.79), which makes the window Prometheus' 5-minute lookback.
        """
        if step is None:
            return self.api.query(promql, time)
        params = {"query": promql, "step": step}
        if time is not None:
            params["time"] = str(time)
        result: list[dict[str, Any]] = self.api.data("query", params)["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step: float | str = "1s") -> list[dict[str, Any]]:
        return self.api.query_range(promql, start, end, step)

    def import_prometheus(self, text: str) -> None:
        """Load samples in the text exposition format (``name{labels} value timestamp_ms`` lines)."""
        self.http.post("/api/v1/import/prometheus", content=text.encode()).raise_for_status()


class VMAgentServer(HttpServer):
    """vmagent scraping ``config`` (a Prometheus ``scrape_configs`` file) into VictoriaMetrics."""

    name = "vmagent"
    binary_name = "vmagent"
    config_name = "scrape.yml"

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | str,
        remote_write_url: str,
        workdir: Path,
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.config = config
        self.remote_write_url = remote_write_url

    def write_config(self) -> Path:
        path = self.workdir / self.config_name
        path.write_text(_dump(dict(self.config) if not isinstance(self.config, str) else self.config))
        return path

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [
            f"-httpListenAddr={LOOPBACK}:{port}",
            f"-promscrape.config={config_file}",
            f"-remoteWrite.url={self.remote_write_url}",
            f"-remoteWrite.tmpDataPath={self.workdir / 'queue'}",
            "-remoteWrite.flushInterval=1s",
        ]


class VMAlertServer(_PrometheusStyleAPI):
    """vmalert evaluating ``rule_files`` against VictoriaMetrics, alerting into Alertmanager."""

    name = "vmalert"
    binary_name = "vmalert"
    config_name = "vmalert.flags"

    def __init__(
        self,
        *,
        rule_files: Iterable[Path],
        datasource_url: str,
        workdir: Path,
        notifier_url: str,
        evaluation_interval: str = "15s",
        external_labels: Mapping[str, str] | None = None,
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.datasource_url = datasource_url
        self.notifier_url = notifier_url
        self.evaluation_interval = evaluation_interval
        self.external_labels = dict(external_labels or {})

    def _flags(self) -> list[str]:
        flags = [f"-rule={path}" for path in self.rule_files]
        flags += [
            f"-datasource.url={self.datasource_url}",
            # recording rules and the ALERTS series go back into the store, as Prometheus keeps them
            f"-remoteWrite.url={self.datasource_url}",
            f"-remoteRead.url={self.datasource_url}",
            f"-evaluationInterval={self.evaluation_interval}",
            # vmalert 1.79 refuses alerting rules without a notifier
            f"-notifier.url={self.notifier_url}",
        ]
        flags += [f"-external.label={name}={value}" for name, value in sorted(self.external_labels.items())]
        return flags

    def write_config(self) -> Path:
        path = self.workdir / self.config_name
        path.write_text("\n".join(self._flags()) + "\n")
        return path

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [
            f"-httpListenAddr={LOOPBACK}:{port}",
            f"-external.url=http://{LOOPBACK}:{port}",
            *self._flags(),
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts, from ``/api/v1/alerts`` (Prometheus' format plus vmalert's ids)."""
        alerts: list[dict[str, Any]] = self.api.data("alerts")["alerts"] or []
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups and their rules' state, from ``/api/v1/rules``."""
        groups: list[dict[str, Any]] = self.api.data("rules")["groups"] or []
        return groups
