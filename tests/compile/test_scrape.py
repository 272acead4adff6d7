"""The scrape configuration `jobpulse build` writes: promtool and vmagent accept it, and it scrapes as it says.

Every example's Prometheus fragment is wrapped in a minimal prometheus.yml for `promtool check config`, and its
vmagent file goes through `vmagent -promscrape.config.dryRun` (strict: an unknown field fails). A real
Prometheus then scrapes a real Pushgateway with the generated job: the pushed job's `job` label survives
(honor_labels), while an ordinary endpoint's series carry the endpoint's name as `job`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from jobpulse.compile import compile_spec
from jobpulse.compile.scrape import prometheus_scrape_configs, vmagent_config
from jobpulse.render.files import render_all
from jobpulse.spec.load import load_spec
from jobpulse.verify.pushgateway import PushgatewayServer
from jobpulse.verify.servers import PrometheusServer
from tests.conftest import need_binary
from tests.helpers import EXAMPLE_SPECS, MINIMAL_SPEC


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _check(spec_path: Path, tmp_path: Path) -> None:
    promtool, vmagent = need_binary("promtool"), need_binary("vmagent")
    files = render_all(compile_spec(load_spec(spec_path)))
    fragment = yaml.safe_load(files["scrape/prometheus.yml"])
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"}, **fragment}))
    checked = _run([promtool, "check", "config", str(config)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    vm = tmp_path / "vmagent.yml"
    vm.write_bytes(files["scrape/vmagent.yml"])
    dry = _run([vmagent, f"-promscrape.config={vm}", "-promscrape.config.dryRun", "-loggerLevel=ERROR"])
    assert dry.returncode == 0, dry.stdout + dry.stderr


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_promtool_and_vmagent_accept_every_example_scrape_config(spec_path: Path, tmp_path: Path) -> None:
    _check(spec_path, tmp_path)


def test_bearer_tokens_and_the_same_jobs_for_prometheus_and_vmagent(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    spec_path = tmp_path / "jobpulse.yaml"
    spec_path.write_text(
        MINIMAL_SPEC
        + f"""\
scrape:
  endpoints:
    - name: api
      port: 8000
      targets: ["api-1:8000", "api-2:8000"]
      auth: {{file: {token}}}
    - name: batch
      kind: pushgateway
      port: 9091
"""
    )
    _check(spec_path, tmp_path)
    spec = load_spec(spec_path)
    api, batch = prometheus_scrape_configs(spec)["scrape_configs"]
    assert api["authorization"] == {"type": "Bearer", "credentials_file": str(token)}
    assert api["static_configs"] == [{"targets": ["api-1:8000", "api-2:8000"]}]
    assert batch["honor_labels"] is True and batch["static_configs"] == [{"targets": ["batch:9091"]}]
    assert vmagent_config(spec)["scrape_configs"] == [api, batch]


def test_target_groups_carry_their_labels(tmp_path: Path) -> None:
    rollout = EXAMPLE_SPECS[0].parent.parent / "prompt_rollout" / "jobpulse.yaml"
    (job,) = prometheus_scrape_configs(load_spec(rollout))["scrape_configs"]
    assert job["static_configs"] == [
        {"targets": ["api-baseline:8000"], "labels": {"track": "baseline"}},
        {"targets": ["api-canary:8000"], "labels": {"track": "canary"}},
    ]


def test_a_spec_without_endpoints_writes_no_scrape_config(tmp_path: Path) -> None:
    spec_path = tmp_path / "jobpulse.yaml"
    spec_path.write_text(MINIMAL_SPEC)
    files = render_all(compile_spec(load_spec(spec_path)))
    assert "scrape/prometheus.yml" not in files and "scrape/vmagent.yml" not in files


def test_the_generated_jobs_scrape_a_pushgateway_with_honor_labels(tmp_path: Path) -> None:
    need_binary("prometheus")
    with PushgatewayServer(workdir=tmp_path / "pushgateway") as gateway:
        spec_path = tmp_path / "jobpulse.yaml"
        spec_path.write_text(
            MINIMAL_SPEC
            + f"""\
scrape:
  endpoints:
    - name: batch-gateway
      kind: pushgateway
      port: {gateway.port}
      targets: ["127.0.0.1:{gateway.port}"]
      interval: 1s
    - name: gateway-itself
      port: {gateway.port}
      targets: ["127.0.0.1:{gateway.port}"]
      interval: 1s
"""
        )
        pushed = "# TYPE jobs_total counter\njobs_total 3\n"
        gateway.http.request("PUT", "/metrics/job/batch/instance/run-7", content=pushed.encode()).raise_for_status()
        config = {"global": {"scrape_interval": "1s"}, **prometheus_scrape_configs(load_spec(spec_path))}
        with PrometheusServer(config=config, workdir=tmp_path / "prometheus") as prometheus:

            def series() -> list[dict[str, str]]:
                return [r["metric"] for r in prometheus.query("jobs_total")]

            found = prometheus.wait_for(lambda: len(series()) == 2 and series(), timeout=30)
            jobs = sorted((m["job"], m.get("exported_job", "")) for m in found)
            # honor_labels: the pusher's job wins; without it Prometheus renames it exported_job
            assert jobs == [("batch", ""), ("gateway-itself", "batch")]
            up = {r["metric"]["job"] for r in prometheus.query("up == 1")}
            assert up == {"batch-gateway", "gateway-itself"}
