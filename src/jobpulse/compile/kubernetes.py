"""Kubernetes resources for the Prometheus Operator and Grafana's dashboard sidecar (``jobpulse build --k8s``).

- one ``PrometheusRule`` with the build's rule groups, labelled for the Prometheus resource's ``ruleSelector``;
- a ``ServiceMonitor`` (or ``PodMonitor``) per scrape endpoint; each sets ``job`` to the endpoint's name, so
  queries such as ``up{job="..."}`` see the same label as with the static scrape configs;
- each Grafana dashboard as a ``ConfigMap`` labelled ``grafana_dashboard: "1"``.

Checked against the CRDs of prometheus-operator v0.93.0 (tests/fixtures/k8s/).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from jobpulse.spec.model import Spec
from jobpulse.spec.scrape import Endpoint

__all__ = ["OPERATOR_API", "JsonValue", "dashboard_configmap", "kubernetes_resources", "monitor", "prometheus_rule"]

OPERATOR_API = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class JsonValue:
    """A value written as JSON text inside YAML (a dashboard in a ConfigMap); the renderer serialises it."""

    data: Any


def _metadata(spec: Spec, name: str, labels: dict[str, str]) -> dict[str, Any]:
    k8s = spec.kubernetes
    meta: dict[str, Any] = {"name": name}
    if k8s.namespace is not None:
        meta["namespace"] = k8s.namespace
    meta["labels"] = {
        "app.kubernetes.io/name": spec.service.name,
        "app.kubernetes.io/managed-by": "jobpulse",
        **k8s.labels,
        **labels,
    }
    return meta


def prometheus_rule(spec: Spec, rule_file: dict[str, Any]) -> dict[str, Any]:
    """The build's rule file as a PrometheusRule (same groups)."""
    return {
        "apiVersion": OPERATOR_API,
        "kind": "PrometheusRule",
        "metadata": _metadata(spec, spec.service.name, spec.kubernetes.rule_labels),
        "spec": {"groups": rule_file["groups"]},
    }


def monitor_name(spec: Spec, endpoint: Endpoint) -> str:
    service = spec.service.name
    return endpoint.name if endpoint.name == service else f"{service}-{endpoint.name}"


def monitor(spec: Spec, endpoint: Endpoint) -> dict[str, Any]:
    """A ServiceMonitor (``kind: service`` or ``pushgateway``) or PodMonitor (``kind: pod``) for one endpoint."""
    scrape: dict[str, Any] = {
        "port": endpoint.port_name,
        "path": endpoint.path,
        "interval": endpoint.interval,
        "scheme": endpoint.scheme,
    }
    if endpoint.honor_labels:
        scrape["honorLabels"] = True
    else:  # the operator's default job label is the Service's (or namespace/PodMonitor) name
        scrape["relabelings"] = [{"action": "replace", "targetLabel": "job", "replacement": endpoint.name}]
    if endpoint.token_secret is not None:
        scrape["authorization"] = {
            "type": "Bearer",
            "credentials": {"name": endpoint.token_secret, "key": endpoint.token_key},
        }
    pod = endpoint.kind == "pod"
    spec_part: dict[str, Any] = {"selector": {"matchLabels": dict(endpoint.selector)}}
    if endpoint.pod_labels:
        spec_part["podTargetLabels"] = list(endpoint.pod_labels)
    spec_part["podMetricsEndpoints" if pod else "endpoints"] = [scrape]
    return {
        "apiVersion": OPERATOR_API,
        "kind": "PodMonitor" if pod else "ServiceMonitor",
        "metadata": _metadata(spec, monitor_name(spec, endpoint), spec.kubernetes.monitor_labels),
        "spec": spec_part,
    }


def configmap_name(service: str, uid: str) -> str:
    """``<service>-dashboard-<uid>`` as a DNS-1123 name (uids may hold capitals and underscores)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", uid.lower()).strip("-")
    name = f"{service}-dashboard-{slug}" if slug else f"{service}-dashboard"
    if slug != uid:  # two uids that differ only in case or '_' must not share a name
        name += "-" + hashlib.sha256(uid.encode()).hexdigest()[:6]
    return name


def dashboard_configmap(spec: Spec, uid: str, dashboard: dict[str, Any]) -> dict[str, Any]:
    """One Grafana dashboard for the sidecar: key ``<uid>.json``, labelled ``grafana_dashboard: "1"``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(spec, configmap_name(spec.service.name, uid), spec.kubernetes.dashboard_labels),
        "data": {f"{uid}.json": JsonValue(dashboard)},
    }


def kubernetes_resources(
    spec: Spec, rule_file: dict[str, Any], dashboards: list[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Path under the build directory → resource, for every resource ``--k8s`` writes."""
    out: dict[str, dict[str, Any]] = {}
    if rule_file.get("groups"):
        out["kubernetes/prometheusrule.yaml"] = prometheus_rule(spec, rule_file)
    for endpoint in spec.endpoints:
        resource = monitor(spec, endpoint)
        out[f"kubernetes/{resource['kind'].lower()}-{endpoint.name}.yaml"] = resource
    for uid, dashboard in dashboards:
        out[f"kubernetes/dashboard-{uid}.yaml"] = dashboard_configmap(spec, uid, dashboard)
    return out
