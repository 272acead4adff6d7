"""Wire models for the ``scrape`` and ``kubernetes`` sections: where the metrics are served, how to deploy them.

``scrape.endpoints`` lists every place Prometheus (or vmagent) scrapes: an app's multi-process ``/metrics``
on each host, a second path of the same process, the Pushgateway that batch jobs push to. ``jobpulse
build`` turns them into a Prometheus ``scrape_configs`` fragment, a vmagent config and — with ``--k8s`` —
ServiceMonitor/PodMonitor resources; ``kubernetes`` sets what those resources are labelled with.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "EndpointAuthSpec",
    "EndpointSpec",
    "KubernetesSpec",
    "ScrapeSpec",
    "TargetGroupSpec",
    "check_k8s_labels",
]

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
#: a DNS-1123 label: Kubernetes names of namespaces and ports' Services, Prometheus job names here
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
#: a Kubernetes port name (IANA_SVC_NAME): at most 15 characters, lower case, digits and inner dashes
PORT_NAME = r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$"
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_TARGET = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$")


def check_k8s_labels(labels: dict[str, str]) -> dict[str, str]:
    """Raise ValueError unless every key and value is a valid Kubernetes label (prefix/name=value)."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)):
            raise ValueError(f"label key {key!r}: the prefix must be a DNS subdomain (example.com/...)")
        if not _LABEL_NAME.match(name):
            raise ValueError(
                f"label key {key!r}: the name must be 1-63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit"
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"label {key}={value!r}: a value is at most 63 letters, digits, '-', '_' or '.', "
                'starting and ending with a letter or digit (quote numbers: "1")'
            )
    return labels


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointAuthSpec(_Strict):
    """A bearer token the endpoint requires (``Telemetry.metrics_app(token=...)``)."""

    secret: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Kubernetes Secret holding the token (default: <service>-metrics-token)",
    )
    key: str = Field(default="token", pattern=r"^[-._a-zA-Z0-9]+$", description="the Secret's key")
    file: str | None = Field(
        default=None,
        description="file Prometheus/vmagent read the token from (default: /etc/prometheus/secrets/<secret>/<key>)",
    )


_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class TargetGroupSpec(_Strict):
    """Hosts that share extra target labels (``track: canary``)."""

    targets: list[str] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        return _check_targets(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _PROM_LABEL.match(name) or name.startswith("__") or name in ("job", "instance"):
                raise ValueError(f"expected a target label name (not job, instance or __*), got {name!r}")
        return value


def _check_targets(value: list[str]) -> list[str]:
    for target in value:
        if not _TARGET.match(target) or not 0 < int(target.rsplit(":", 1)[1]) < 65536:
            raise ValueError(f"expected host:port, got {target!r}")
    if len(set(value)) != len(value):
        raise ValueError("a host is listed twice")
    return value


class EndpointSpec(_Strict):
    """One scraped endpoint: a metrics path on a port, served by every host listed in ``targets``."""

    name: str = Field(pattern=DNS_LABEL, description="the scrape job's name: the `job` label of its series")
    kind: Literal["service", "pod", "pushgateway"] = Field(
        default="service",
        description="service: a ServiceMonitor; pod: a PodMonitor; pushgateway: batch jobs' metrics, honor_labels",
    )
    path: str = Field(default="/metrics", pattern=r"^/[^\s?#]*$")
    port: int = Field(ge=1, le=65535, description="the port number (static scrape configs)")
    port_name: str = Field(default="http", pattern=PORT_NAME, description="the port's name on the Service or Pod")
    scheme: Literal["http", "https"] = "http"
    targets: list[str] | None = Field(
        default=None,
        min_length=1,
        description="host:port of every host (multi-process mode: one /metrics per host); default <name>:<port>",
    )
    groups: list[TargetGroupSpec] | None = Field(
        default=None,
        min_length=1,
        description="instead of `targets`: hosts with extra target labels (a rollout's `track`)",
    )
    pod_labels: list[str] = Field(
        default_factory=list,
        description="Kubernetes Pod labels copied onto the series (the monitors' podTargetLabels)",
    )
    interval: str | None = Field(default=None, description="scrape interval (default: service.scrape_interval)")
    selector: dict[str, str] | None = Field(
        default=None,
        description="labels of the Services (or Pods) to scrape (default: app.kubernetes.io/name: <service>)",
    )
    auth: EndpointAuthSpec | None = None
    description: str = ""

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_targets(value)

    @field_validator("pod_labels")
    @classmethod
    def _pod_labels(cls, value: list[str]) -> list[str]:
        check_k8s_labels(dict.fromkeys(value, ""))
        return value

    @model_validator(mode="after")
    def _one_target_form(self) -> EndpointSpec:
        if self.targets is not None and self.groups is not None:
            raise ValueError("give either `targets` or `groups`, not both")
        return self

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and not DURATION.match(value):
            raise ValueError(f"expected a Prometheus duration such as 15s or 1m, got {value!r}")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            if not value:
                raise ValueError("a selector needs at least one label (an empty one selects everything)")
            check_k8s_labels(value)
        return value


class ScrapeSpec(_Strict):
    endpoints: list[EndpointSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ScrapeSpec:
        names = [e.name for e in self.endpoints]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"endpoint names are job names and must be unique; twice: {', '.join(twice)}")
        return self


class KubernetesSpec(_Strict):
    """What ``jobpulse build --k8s`` puts on its resources."""

    namespace: str | None = Field(default=None, pattern=DNS_LABEL)
    labels: dict[str, str] = Field(default_factory=dict, description="labels on every resource")
    rule_labels: dict[str, str] = Field(
        default_factory=lambda: {"role": "alert-rules"},
        description="labels the Prometheus resource's ruleSelector matches (kube-prometheus-stack: release: <name>)",
    )
    monitor_labels: dict[str, str] = Field(
        default_factory=dict,
        description="labels its serviceMonitorSelector/podMonitorSelector match (kube-prometheus-stack: release)",
    )
    dashboard_labels: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="labels Grafana's dashboard sidecar looks for",
    )

    @field_validator("labels", "rule_labels", "monitor_labels", "dashboard_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_k8s_labels(value)
