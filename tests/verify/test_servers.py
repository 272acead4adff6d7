"""Real Prometheus + Alertmanager started by jobpulse.verify.servers, scraping a prometheus_client app."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from jobpulse.verify.binaries import MissingBinaryError, find_binary, require_binary
from jobpulse.verify.servers import (
    AlertmanagerServer,
    PrometheusServer,
    ServerStartError,
    free_port,
    prometheus_config,
    scrape_config,
)

T = TypeVar("T")

RULES = """\
groups:
  - name: demo
    interval: 1s
    rules:
      - record: job:demo_up:sum
        expr: sum by (job) (demo_up)
      - alert: DemoAlwaysFiring
        expr: demo_up > 0
        for: 0s
        labels:
          severity: page
        annotations:
          summary: demo_up is {{ $value }}
"""


def eventually(server: PrometheusServer | AlertmanagerServer, predicate: Callable[[], T]) -> T:
    """``server.wait_for`` that fails the test with the server's log tail."""
    try:
        return server.wait_for(predicate, timeout=15.0, interval=0.2)
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n--- {server.log_path} ---\n{server.log_tail()}")


# --- fixtures: one metrics app, one Alertmanager, one Prometheus for the whole module ------------


@pytest.fixture(scope="module")
def metrics_target() -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("demo_up", "Always 1: the demo app is up.", registry=registry).set(1)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def alertmanager(alertmanager_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(workdir=tmp_path_factory.mktemp("alertmanager"), binary=alertmanager_bin) as am:
        yield am


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str,
    metrics_target: str,
    alertmanager: AlertmanagerServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("prometheus")
    rules = workdir / "demo.rules.yml"
    rules.write_text(RULES)
    config = prometheus_config(
        scrape_configs=[scrape_config("demo", metrics_target, interval="1s")],
        rule_files=[],
        evaluation_interval="1s",
        alertmanager_url=alertmanager.url,
    )
    with PrometheusServer(config=config, rule_files=[rules], workdir=workdir, binary=prometheus_bin) as prom:
        yield prom


# --- integration tests ---------------------------------------------------------------------------


@pytest.mark.integration
def test_scrapes_metric_and_evaluates_recording_rule(prometheus: PrometheusServer) -> None:
    targets = eventually(prometheus, lambda: [t for t in prometheus.targets() if t["health"] == "up"])
    assert targets[0]["labels"]["job"] == "demo"

    series = eventually(prometheus, lambda: prometheus.query('demo_up{job="demo"}'))
    assert series[0]["value"][1] == "1"

    recorded = eventually(prometheus, lambda: prometheus.query("job:demo_up:sum"))
    assert recorded[0]["metric"] == {"__name__": "job:demo_up:sum", "job": "demo"}
    assert recorded[0]["value"][1] == "1"

    [group] = prometheus.rules()
    assert {rule["name"] for rule in group["rules"]} == {"job:demo_up:sum", "DemoAlwaysFiring"}
    assert all(rule["health"] in {"ok", "unknown"} for rule in group["rules"])


@pytest.mark.integration
def test_alert_fires_in_prometheus(prometheus: PrometheusServer) -> None:
    def firing() -> list[dict[str, Any]]:
        return [
            a for a in prometheus.alerts() if a["labels"]["alertname"] == "DemoAlwaysFiring" and a["state"] == "firing"
        ]

    [alert] = eventually(prometheus, firing)
    assert alert["labels"]["severity"] == "page"
    assert alert["annotations"]["summary"] == "demo_up is 1"


@pytest.mark.integration
def test_alert_reaches_alertmanager(prometheus: PrometheusServer, alertmanager: AlertmanagerServer) -> None:
    def received() -> list[dict[str, Any]]:
        return [a for a in alertmanager.alerts() if a["labels"].get("alertname") == "DemoAlwaysFiring"]

    [alert] = eventually(alertmanager, received)
    assert alert["labels"]["job"] == "demo"
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == "demo_up is 1"


@pytest.mark.integration
def test_servers_listen_on_loopback_only(prometheus: PrometheusServer, alertmanager: AlertmanagerServer) -> None:
    for server in (prometheus, alertmanager):
        assert server.pid is not None
        listeners = _listening_sockets(server.pid)
        assert ("tcp", ipaddress.ip_address("127.0.0.1"), server.port) in listeners, listeners
        public = [s for s in listeners if not s[1].is_loopback]
        assert public == [], f"{server.binary_name} (pid {server.pid}) listens beyond loopback: {public}"
    # Alertmanager's gossip cluster (TCP+UDP 9094) is switched off altogether.
    assert alertmanager.pid is not None
    assert all(port != 9094 for _, _, port in _listening_sockets(alertmanager.pid))


@pytest.mark.integration
def test_start_failure_reports_log_tail(prometheus_bin: str, tmp_path: Path) -> None:
    server = PrometheusServer(config="scrape_configs: [{}]\n", workdir=tmp_path, binary=prometheus_bin)
    with pytest.raises(ServerStartError, match=r"exited with code \d+") as info:
        server.start(timeout=10)
    assert "prometheus.log" in str(info.value)
    assert "job_name" in str(info.value)  # Prometheus' own complaint, from the log tail
    assert server.process is None and server.port is None


@pytest.mark.integration
def test_generated_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    rules = tmp_path / "demo.rules.yml"
    rules.write_text(RULES)
    config = prometheus_config(
        scrape_configs=[
            scrape_config("demo", "127.0.0.1:9999", interval="1s"),
            scrape_config("secure", "https://127.0.0.1:9998", metrics_path="/m", bearer_token="t0ken"),
        ],
        rule_files=[rules],
        alertmanager_url="http://127.0.0.1:9093/am",
    )
    assert config["alerting"]["alertmanagers"][0]["path_prefix"] == "/am"
    assert config["scrape_configs"][1]["scheme"] == "https"
    import yaml

    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- binaries ------------------------------------------------------------------------------------


def _fake_executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    ("installed", "asked"),
    [
        ("prometheus-alertmanager", "alertmanager"),
        ("alertmanager", "alertmanager"),
        ("alertmanager", "prometheus-alertmanager"),
    ],
)
def test_find_binary_knows_alertmanager_aliases(
    installed: str, asked: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_executable(tmp_path, installed)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binary(asked) == str(fake)
    assert require_binary(asked) == str(fake)


def test_require_binary_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binary("amtool") is None
    with pytest.raises(MissingBinaryError, match="apt-get install prometheus-alertmanager") as info:
        require_binary("amtool")
    assert issubclass(MissingBinaryError, RuntimeError)
    assert (info.value.name, info.value.package) == ("amtool", "prometheus-alertmanager")
    assert "apt-get install prometheus-alertmanager" in info.value.hint

    with pytest.raises(MissingBinaryError, match=r"apt-get install prometheus\b"):
        require_binary("promtool")


# --- helpers -------------------------------------------------------------------------------------

_PROC_FILES = {"tcp": "tcp", "tcp6": "tcp", "udp": "udp", "udp6": "udp"}
_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def _listening_sockets(pid: int) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(protocol, address, port) of every TCP listener and unconnected UDP socket owned by ``pid``.

    Reads /proc/net/{tcp,tcp6,udp,udp6} and matches socket inodes against /proc/<pid>/fd.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for name, proto in _PROC_FILES.items():
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode not in inodes:
                continue
            if proto == "tcp" and state != _TCP_LISTEN:
                continue
            if proto == "udp" and (state != _UDP_UNCONNECTED or int(remote.split(":")[0], 16) != 0):
                continue
            found.append((proto, _parse_address(local.split(":")[0]), int(local.split(":")[1], 16)))
    return found


def _parse_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # The kernel prints the address as 32-bit words in host (little-endian) byte order.
    raw = bytes.fromhex(hex_address)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def test_parse_proc_net_address() -> None:
    assert _parse_address("0100007F") == ipaddress.ip_address("127.0.0.1")
    assert _parse_address("00000000") == ipaddress.IPv4Address(0)  # 0.0.0.0
    assert _parse_address("00000000000000000000000001000000") == ipaddress.ip_address("::1")
    assert _parse_address("0000000000000000FFFF00000100007F") == ipaddress.ip_address("127.0.0.1")
    assert not _parse_address("00000000000000000000000000000000").is_loopback
