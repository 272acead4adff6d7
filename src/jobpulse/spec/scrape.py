"""Resolved scrape endpoints and Kubernetes settings: the ``scrape`` and ``kubernetes`` sections, defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobpulse.spec.wire_scrape import EndpointSpec, KubernetesSpec, ScrapeSpec

__all__ = [
    "PUSHGATEWAY_SELECTOR",
    "Endpoint",
    "KubernetesConfig",
    "TargetGroup",
    "resolve_kubernetes",
    "resolve_scrape",
]

#: the label the prometheus-community Helm chart puts on the Pushgateway's Service
PUSHGATEWAY_SELECTOR = {"app.kubernetes.io/name": "prometheus-pushgateway"}
#: where the Prometheus Operator mounts a Secret listed in ``Prometheus.spec.secrets``
OPERATOR_SECRETS = "/etc/prometheus/secrets"


@dataclass(frozen=True)
class TargetGroup:
    """Hosts scraped with the same extra target labels."""

    targets: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """One scrape job: a path on a port of every host in ``targets``."""

    name: str
    kind: str  # service | pod | pushgateway
    path: str
    port: int
    port_name: str
    scheme: str
    groups: tuple[TargetGroup, ...]
    interval: str
    selector: dict[str, str]
    description: str = ""
    token_secret: str | None = None  # Kubernetes Secret with the bearer token
    token_key: str = "token"  # noqa: S105 -- the name of the Secret key, not a secret
    token_file: str | None = None  # the same token as a file, for static scrape configs
    pod_labels: tuple[str, ...] = ()  # Kubernetes Pod labels copied onto the series

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for group in self.groups for t in group.targets)

    @property
    def honor_labels(self) -> bool:
        """The Pushgateway's series carry the pushing job's ``job``/``instance``: keep them."""
        return self.kind == "pushgateway"


@dataclass(frozen=True)
class KubernetesConfig:
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    rule_labels: dict[str, str] = field(default_factory=lambda: {"role": "alert-rules"})
    monitor_labels: dict[str, str] = field(default_factory=dict)
    dashboard_labels: dict[str, str] = field(default_factory=lambda: {"grafana_dashboard": "1"})


def resolve_scrape(spec: ScrapeSpec | None, service: str, scrape_interval: str) -> tuple[Endpoint, ...]:
    """The spec's endpoints with their defaults (no ``scrape`` section: none)."""
    if spec is None:
        return ()
    endpoints = []
    for e in spec.endpoints:
        secret = key = file = None
        if e.auth is not None:
            secret = e.auth.secret or f"{service}-metrics-token"
            key = e.auth.key
            file = e.auth.file or f"{OPERATOR_SECRETS}/{secret}/{key}"
        default_selector = PUSHGATEWAY_SELECTOR if e.kind == "pushgateway" else {"app.kubernetes.io/name": service}
        endpoints.append(
            Endpoint(
                name=e.name,
                kind=e.kind,
                path=e.path,
                port=e.port,
                port_name=e.port_name,
                scheme=e.scheme,
                groups=_groups(e),
                interval=e.interval or scrape_interval,
                selector=dict(e.selector or default_selector),
                description=e.description,
                token_secret=secret,
                token_key=key or "token",
                token_file=file,
                pod_labels=tuple(e.pod_labels),
            )
        )
    return tuple(endpoints)


def _groups(endpoint: EndpointSpec) -> tuple[TargetGroup, ...]:
    if endpoint.groups is not None:
        return tuple(TargetGroup(tuple(g.targets), dict(g.labels)) for g in endpoint.groups)
    return (TargetGroup(tuple(endpoint.targets or [f"{endpoint.name}:{endpoint.port}"])),)


def resolve_kubernetes(spec: KubernetesSpec | None) -> KubernetesConfig:
    if spec is None:
        return KubernetesConfig()
    return KubernetesConfig(
        namespace=spec.namespace,
        labels=dict(spec.labels),
        rule_labels=dict(spec.rule_labels),
        monitor_labels=dict(spec.monitor_labels),
        dashboard_labels=dict(spec.dashboard_labels),
    )
