"""`jobpulse build --k8s`: every resource validates against prometheus-operator v0.93.0's CRD schemas.

The CRDs are vendored in tests/fixtures/k8s (see its README). Validation is strict — an object schema that
lists properties accepts no other field — as `kubectl apply --validate=strict` is; the embedded rule groups
go through `promtool check rules`; each dashboard ConfigMap carries the build's dashboard JSON unchanged.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from jobpulse.cli.main import cli
from jobpulse.compile import compile_spec
from jobpulse.lint.problem import Severity
from jobpulse.lint.runner import lint_paths
from jobpulse.render.files import render_all, write_build
from jobpulse.spec.load import load_spec, load_spec_text
from jobpulse.spec.wire_scrape import check_k8s_labels
from tests.conftest import need_binary
from tests.helpers import EXAMPLE_SPECS, MINIMAL_SPEC

CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"
OPERATOR_VERSION = "0.93.0"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
#: kubectl's client-side apply keeps the whole object in an annotation, which may not exceed this
LAST_APPLIED_LIMIT = 262_144
CONFIGMAP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "data"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "ConfigMap"},
        "metadata": {"type": "object"},
        "data": {
            "type": "object",
            "propertyNames": {"pattern": r"^[-._a-zA-Z0-9]+$", "maxLength": 253},
            "additionalProperties": {"type": "string"},
        },
    },
}


def _strict(schema: Any) -> Any:
    """The CRD schema with ``additionalProperties: false`` wherever Kubernetes would prune unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """kind → strict openAPIV3Schema of its v1 version, from the vendored CRDs."""
    out = {}
    for path in sorted(CRDS.glob("monitoring.coreos.com_*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == OPERATOR_VERSION
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        out[crd["spec"]["names"]["kind"]] = _strict(version["schema"]["openAPIV3Schema"])
    out["ConfigMap"] = CONFIGMAP_SCHEMA
    return out


def problems(resource: dict[str, Any]) -> list[str]:
    """Every reason Kubernetes would refuse ``resource`` (schema, name, namespace, labels)."""
    schema = schemas().get(resource.get("kind", ""))
    if schema is None:
        return [f"no schema for kind {resource.get('kind')!r}"]
    found = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(resource)
    ]
    meta = resource.get("metadata", {})
    name = meta.get("name", "")
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        found.append(f"metadata.name {name!r} is not a DNS-1123 subdomain")
    if "namespace" in meta and not DNS_LABEL.match(meta["namespace"]):
        found.append(f"metadata.namespace {meta['namespace']!r} is not a DNS-1123 label")
    try:
        check_k8s_labels(meta.get("labels", {}))
    except ValueError as exc:
        found.append(f"metadata.labels: {exc}")
    return found


def k8s_build(spec_path: Path) -> dict[str, Any]:
    """Path → parsed resource for everything --k8s writes under kubernetes/."""
    files = render_all(compile_spec(load_spec(spec_path), kubernetes=True))
    return {path: yaml.safe_load(content) for path, content in files.items() if path.startswith("kubernetes/")}


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_every_resource_of_every_example_validates(spec_path: Path, tmp_path: Path) -> None:
    resources = k8s_build(spec_path)
    spec = load_spec(spec_path)
    kinds = [r["kind"] for r in resources.values()]
    assert kinds.count("PrometheusRule") == 1
    assert kinds.count("ServiceMonitor") + kinds.count("PodMonitor") == len(spec.endpoints) > 0
    assert kinds.count("ConfigMap") == len(spec.dashboards) + len(spec.slos) + len(spec.rollouts)
    for path, resource in resources.items():
        assert problems(resource) == [], path
        assert len(json.dumps(resource)) < LAST_APPLIED_LIMIT, f"{path} is too large for kubectl apply"


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_the_prometheus_rule_carries_the_rule_file_and_promtool_accepts_it(spec_path: Path, tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    result = compile_spec(load_spec(spec_path), kubernetes=True)
    rule = yaml.safe_load(render_all(result)["kubernetes/prometheusrule.yaml"])
    assert rule["metadata"]["labels"]["role"] == "alert-rules"  # the operator's documented ruleSelector
    assert rule["spec"]["groups"] == yaml.safe_load(render_all(result)[result.rule_file])["groups"]
    groups = tmp_path / "embedded.rules.yml"
    groups.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run([promtool, "check", "rules", str(groups)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_dashboard_configmaps_hold_the_build_dashboards_for_the_grafana_sidecar(spec_path: Path) -> None:
    files = render_all(compile_spec(load_spec(spec_path), kubernetes=True))
    for path, content in files.items():
        if not path.startswith("grafana/"):
            continue
        uid = Path(path).stem
        configmap = yaml.safe_load(files[f"kubernetes/dashboard-{uid}.yaml"])
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        (key,) = configmap["data"]
        assert key == f"{uid}.json"
        assert json.loads(configmap["data"][key]) == json.loads(content)


def test_monitors_scrape_each_endpoint_with_its_job_label() -> None:
    resources = k8s_build(EXAMPLE_SPECS[0].parent.parent / "render_pipeline" / "jobpulse.yaml")
    workers = resources["kubernetes/servicemonitor-render-pipeline-workers.yaml"]
    (endpoint,) = workers["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics/workers" and endpoint["port"] == "http"
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": "render-pipeline-workers"}
    ]
    ai = k8s_build(EXAMPLE_SPECS[0].parent.parent / "ai_shorts" / "jobpulse.yaml")
    (push,) = ai["kubernetes/servicemonitor-pushgateway.yaml"]["spec"]["endpoints"]
    assert push["honorLabels"] is True and "relabelings" not in push


K8S_SPEC = (
    MINIMAL_SPEC
    + """\
alerts:
  - name: QueueBacklog
    expr: sum(queue_depth) > 100
    for: 10m
    severity: warning
    summary: Jobs are waiting
    description: "{{ $value }} jobs wait"
dashboards:
  - title: Work_Queue
    uid: Work_Queue
    panels:
      - {title: Waiting, unit: short, expr: sum(queue_depth)}
scrape:
  endpoints:
    - name: api
      port: 8000
      auth: {secret: mini-metrics}
    - name: workers
      kind: pod
      port: 9000
      port_name: metrics
      path: /metrics/workers
      interval: 30s
      selector: {app.kubernetes.io/component: worker}
kubernetes:
  namespace: jobs
  labels: {team: platform}
  rule_labels: {release: kube-prometheus-stack}
  monitor_labels: {release: kube-prometheus-stack}
"""
)


def test_pod_monitors_namespaces_selector_labels_and_bearer_tokens(tmp_path: Path) -> None:
    path = tmp_path / "jobpulse.yaml"
    path.write_text(K8S_SPEC)
    resources = k8s_build(path)
    for name, resource in resources.items():
        assert problems(resource) == [], name
        assert resource["metadata"]["namespace"] == "jobs"
        assert resource["metadata"]["labels"]["team"] == "platform"
    rule = resources["kubernetes/prometheusrule.yaml"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "role" not in rule["metadata"]["labels"]
    api = resources["kubernetes/servicemonitor-api.yaml"]
    assert api["metadata"]["name"] == "mini-api"
    assert api["spec"]["endpoints"][0]["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "mini-metrics", "key": "token"},
    }
    pods = resources["kubernetes/podmonitor-workers.yaml"]
    assert pods["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/component": "worker"}}
    (endpoint,) = pods["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("metrics", "/metrics/workers", "30s")


def test_the_validation_catches_what_kubernetes_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "jobpulse.yaml"
    path.write_text(K8S_SPEC)
    resources = k8s_build(path)
    monitor = copy.deepcopy(resources["kubernetes/servicemonitor-api.yaml"])
    monitor["spec"]["endpoints"][0]["honor_labels"] = True  # the scrape_configs spelling, not the CRD's
    assert any("honor_labels" in p for p in problems(monitor))
    pods = copy.deepcopy(resources["kubernetes/podmonitor-workers.yaml"])
    pods["spec"]["endpoints"] = pods["spec"].pop("podMetricsEndpoints")
    assert any("endpoints" in p for p in problems(pods))
    rule = copy.deepcopy(resources["kubernetes/prometheusrule.yaml"])
    del rule["spec"]["groups"][0]["name"]
    rule["metadata"]["name"] = "Mini_Rules"
    found = problems(rule)
    assert any("'name' is a required property" in p for p in found)
    assert any("DNS-1123" in p for p in found)
    configmap = copy.deepcopy(resources["kubernetes/dashboard-Work_Queue.yaml"])
    assert re.fullmatch(r"mini-dashboard-work-queue-[0-9a-f]{6}", configmap["metadata"]["name"])
    configmap["metadata"]["labels"]["grafana_dashboard"] = 1
    assert any("quote numbers" in p for p in problems(configmap))


def test_spec_errors_in_the_new_sections_name_file_line_and_column(tmp_path: Path) -> None:
    from jobpulse.spec.errors import SpecError

    bad = K8S_SPEC.replace("port_name: metrics", "port_name: Metrics_Port").replace(
        "monitor_labels: {release: kube-prometheus-stack}", "monitor_labels: {release: kube prometheus}"
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(bad, "jobpulse.yaml")
    text = "\n".join(str(p) for p in caught.value.problems)
    line = bad.splitlines().index("      port_name: Metrics_Port") + 1
    assert f"jobpulse.yaml:{line}:" in text and "scrape.endpoints[1].port_name" in text
    assert "kubernetes.monitor_labels" in text and "release='kube prometheus'" in text


def test_build_k8s_writes_kubernetes_and_lint_reads_it_clean(tmp_path: Path) -> None:
    spec = EXAMPLE_SPECS[0].parent.parent / "ai_shorts" / "jobpulse.yaml"
    out = tmp_path / "build"
    result = CliRunner().invoke(cli, ["build", str(spec), "-o", str(out), "--k8s", "-q"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (out / "kubernetes").iterdir())
    assert "prometheusrule.yaml" in written and "servicemonitor-pushgateway.yaml" in written
    linted = lint_paths([out], spec=spec)
    kinds = {kind for path, ks in linted.kinds.items() if "/kubernetes/" in path for kind in ks}
    assert kinds == {"PrometheusRule resource", "Kubernetes resource (no PromQL to check)"}
    assert [p for p in linted.problems if p.severity is Severity.ERROR] == []
    one = CliRunner().invoke(cli, ["lint", str(out / "kubernetes" / "servicemonitor-ai-shorts.yaml")])
    assert one.exit_code == 0, one.output
    without = tmp_path / "plain"
    write_build(compile_spec(load_spec(spec)), without)
    assert not (without / "kubernetes").exists()
