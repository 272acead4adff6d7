"""The VictoriaMetrics harness: victoria-metrics, vmagent and vmalert start, work together, listen on loopback only.

vmagent scrapes VictoriaMetrics' own /metrics into it, vmalert evaluates a recording and an alerting rule
against it and sends the alert to a real Alertmanager.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobpulse.verify.servers import AlertmanagerServer
from jobpulse.verify.victoriametrics import VictoriaMetricsServer, VMAgentServer, VMAlertServer
from tests.conftest import need_binary


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    for name in ("victoria-metrics", "vmagent", "vmalert", "alertmanager"):
        need_binary(name)


def listening(pid: int) -> set[str]:
    """``address:port`` of every TCP socket process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.rsplit(":", 1)
                ip = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)) if len(address) == 8 else address
                out.add(f"{ip}:{int(port, 16)}")
    return out


RULES = {
    "groups": [
        {
            "name": "self",
            "interval": "1s",
            "rules": [
                {"record": "job:up:sum", "expr": "sum by (job) (up)"},
                {
                    "alert": "VictoriaMetricsScraped",
                    "expr": 'job:up:sum{job="victoria-metrics"} >= 1',
                    "labels": {"severity": "info"},
                    "annotations": {"summary": "vmagent scrapes VictoriaMetrics"},
                },
            ],
        }
    ]
}


def test_the_three_servers_scrape_evaluate_alert_and_listen_on_loopback_only(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    with (
        AlertmanagerServer(workdir=tmp_path / "am") as alertmanager,
        VictoriaMetricsServer(workdir=tmp_path / "vm", latency_offset="1s") as victoria,
    ):
        scrape = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "victoria-metrics", "static_configs": [{"targets": [victoria.url[7:]]}]}],
        }
        agent = VMAgentServer(config=scrape, remote_write_url=victoria.write_url, workdir=tmp_path / "agent")
        ruler = VMAlertServer(
            rule_files=[rules],
            datasource_url=victoria.url,
            notifier_url=alertmanager.url,
            evaluation_interval="1s",
            external_labels={"ruler": "vmalert"},
            workdir=tmp_path / "ruler",
        )
        with agent, ruler:
            # the recording rule's output went back into VictoriaMetrics, and the alert reached Alertmanager
            recorded = victoria.wait_for(lambda: victoria.query('job:up:sum{job="victoria-metrics"}'), timeout=60)
            assert recorded[0]["value"][1] == "1"
            alerts = alertmanager.wait_for(lambda: alertmanager.alerts(active="true"), timeout=60)
            assert {(a["labels"]["alertname"], a["labels"]["ruler"]) for a in alerts} == {
                ("VictoriaMetricsScraped", "vmalert")
            }
            assert [r["name"] for g in ruler.rules() for r in g["rules"]] == ["job:up:sum", "VictoriaMetricsScraped"]
            for server in (victoria, agent, ruler):
                assert server.pid is not None
                assert listening(server.pid) == {f"127.0.0.1:{server.port}"}, server.binary_name
        assert agent.pid is None and ruler.pid is None


def test_a_rule_file_vmalert_refuses_is_a_start_error_with_its_log(tmp_path: Path) -> None:
    from jobpulse.verify.servers import ServerStartError

    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    query_offset: 1m\n    rules:\n      - {alert: A, expr: up == 0}\n")
    with VictoriaMetricsServer(workdir=tmp_path / "vm") as victoria:
        ruler = VMAlertServer(
            rule_files=[rules],
            datasource_url=victoria.url,
            notifier_url="http://127.0.0.1:9",
            workdir=tmp_path / "ruler",
        )
        with pytest.raises(ServerStartError, match="query_offset"):
            ruler.start()
