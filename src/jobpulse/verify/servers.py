"""Run real Prometheus and Alertmanager processes on loopback, for tests and ``jobpulse demo``.

Both servers listen on ``127.0.0.1`` only (a hard rule of the project): the web address is
always ``127.0.0.1:<port>`` and Alertmanager's gossip listener is switched off.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

import yaml

from jobpulse.extras import require
from jobpulse.verify.binaries import require_binary

if TYPE_CHECKING:
    import httpx

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

LOOPBACK = "127.0.0.1"
T = TypeVar("T")

#: Used by :class:`AlertmanagerServer` when no config is given: every alert goes to a receiver
#: that notifies nobody, which is all that is needed to inspect alerts through the API.
DEFAULT_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "route": {"receiver": "null", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
    "receivers": [{"name": "null"}],
}


class ServerStartError(RuntimeError):
    """The server exited or did not become ready; the message carries the tail of its log."""


class PrometheusAPIError(RuntimeError):
    """The Prometheus HTTP API answered with ``status != "success"``."""


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a server's log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def end_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Send ``sig``, wait ``timeout`` seconds, then SIGKILL; nothing to do for an ended or absent process."""
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.2) -> T:
    """Call ``predicate`` until it returns something truthy and return that.

    Exceptions raised by ``predicate`` count as "not yet" (except :class:`ServerStartError`,
    which ends the wait); on timeout a :class:`TimeoutError` names the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
        except ServerStartError:
            raise
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last: {last!r})")
        time.sleep(interval)


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


class _Server:
    """A child process listening on 127.0.0.1:<port>, ready once ``GET /-/ready`` answers 200."""

    binary_name: ClassVar[str]
    config_name: ClassVar[str]
    log_name: ClassVar[str]
    _live: ClassVar[set[_Server]] = set()

    def __init__(self, *, workdir: Path, port: int | None, binary: str | None) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None
        self._transport_error: type[Exception] = OSError

    # -- subclass hooks -------------------------------------------------------------------
    def _write_config(self) -> Path:
        raise NotImplementedError

    def _args(self, config_file: Path, port: int) -> list[str]:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} has no port yet: call start() first")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / self.log_name

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 30.0) -> Self:
        if self.process is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        binary = self.binary or require_binary(self.binary_name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self._write_config()
        # A port we picked ourselves may be taken between free_port() and the bind: retry then.
        auto_port = self.port is None
        for attempt in range(3 if auto_port else 1):
            if auto_port:
                self.port = free_port()
            try:
                self._launch(binary, config_file, timeout)
            except BaseException as exc:
                self.stop()
                if auto_port:
                    self.port = None
                retry = isinstance(exc, ServerStartError) and "address already in use" in str(exc)
                if retry and auto_port and attempt < 2:
                    continue
                raise
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, binary: str, config_file: Path, timeout: float) -> None:
        assert self.port is not None
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [binary, *self._args(config_file, self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        _Server._live.add(self)
        # trust_env=False: an HTTP(S)_PROXY in the environment must never see loopback traffic.
        httpx = require("httpx", extra="backtest", feature="jobpulse's Prometheus and Alertmanager harness")
        self._client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)
        self._transport_error = httpx.TransportError
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None and self._client is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.binary_name} exited with code {code} during startup; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(self._transport_error):
                if self._client.get("/-/ready", timeout=1.0).status_code == 200:
                    return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{self.binary_name} not ready on {self.url} after {timeout}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait ``timeout`` seconds, then SIGKILL. Safe to call more than once."""
        process, self.process = self.process, None
        end_process(process, signal.SIGTERM, timeout)
        _Server._live.discard(self)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._client

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.2) -> T:
        """:func:`wait_for`, failing early if the server process died meanwhile."""

        def check() -> T:
            if self.process is None or self.process.poll() is not None:
                raise ServerStartError(f"{self.binary_name} is not running; log:\n{self.log_tail()}")
            return predicate()

        return wait_for(check, timeout, interval)


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_Server._live):
        server.stop(timeout=5.0)


def _dump(config: dict[str, Any] | str) -> str:
    return config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)


class PrometheusServer(_Server):
    binary_name = "prometheus"
    config_name = "prometheus.yml"
    log_name = "prometheus.log"

    def __init__(
        self,
        *,
        config: dict[str, Any] | str,
        rule_files: Iterable[Path] = (),
        workdir: Path,
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, port=port, binary=binary)
        self.config = config
        self.rule_files = [Path(p) for p in rule_files]

    def _write_config(self) -> Path:
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

    def _args(self, config_file: Path, port: int) -> list[str]:
        return [
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
        ]

    def _api(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self.client.get(f"/api/v1/{path}", params=params)
        try:
            body = response.json()
        except ValueError:
            response.raise_for_status()
            raise
        if body.get("status") != "success":
            raise PrometheusAPIError(
                f"{path} {params or ''}: {body.get('errorType', response.status_code)}: {body.get('error')}"
            )
        return body["data"]

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query; returns ``data.result`` (for a scalar/string result, the ``[ts, value]`` pair)."""
        params = {"query": promql}
        if time is not None:
            params["time"] = str(time)
        result: list[dict[str, Any]] = self._api("query", params)["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step: float | str = "1s") -> list[dict[str, Any]]:
        """Range query (``start``/``end`` as Unix timestamps); returns ``data.result``."""
        params = {"query": promql, "start": str(start), "end": str(end), "step": str(step)}
        result: list[dict[str, Any]] = self._api("query_range", params)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts, from ``/api/v1/alerts``."""
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups with their rules' health and last evaluation, from ``/api/v1/rules``."""
        groups: list[dict[str, Any]] = self._api("rules")["groups"]
        return groups

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (``health``, ``lastError``, ...), from ``/api/v1/targets``."""
        targets: list[dict[str, Any]] = self._api("targets")["activeTargets"]
        return targets

    def reload(self) -> None:
        """Re-read the config and rule files (``POST /-/reload``)."""
        self._write_config()
        self.client.post("/-/reload").raise_for_status()


class AlertmanagerServer(_Server):
    binary_name = "alertmanager"
    config_name = "alertmanager.yml"
    log_name = "alertmanager.log"

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

    def _write_config(self) -> Path:
        path = self.workdir / self.config_name
        path.write_text(_dump(self.config))
        return path

    def _args(self, config_file: Path, port: int) -> list[str]:
        return [
            f"--config.file={config_file}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            # Empty value disables the gossip cluster, which would otherwise bind 0.0.0.0:9094.
            "--cluster.listen-address=",
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds, from ``/api/v2/alerts`` (e.g. ``alerts(active="true")``)."""
        response = self.client.get("/api/v2/alerts", params=filters)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts
