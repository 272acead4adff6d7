"""Scrape configuration for the spec's endpoints: a Prometheus ``scrape_configs`` fragment and a vmagent file.

Both are plain data. The Prometheus fragment is pasted into ``prometheus.yml``; the vmagent file is a whole
``-promscrape.config`` (vmagent reads Prometheus' format, strictly: an unknown field is an error).
"""

from __future__ import annotations

from typing import Any

from jobpulse.spec.model import Spec
from jobpulse.spec.scrape import Endpoint

__all__ = ["prometheus_scrape_configs", "scrape_job", "vmagent_config"]


def scrape_job(endpoint: Endpoint) -> dict[str, Any]:
    """One ``scrape_configs`` entry: every host of the endpoint as a static target."""
    job: dict[str, Any] = {
        "job_name": endpoint.name,
        "scrape_interval": endpoint.interval,
        "metrics_path": endpoint.path,
        "scheme": endpoint.scheme,
    }
    if endpoint.honor_labels:
        # the Pushgateway re-exposes each pushed group with the pusher's job/instance: keep those
        job["honor_labels"] = True
    if endpoint.token_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": endpoint.token_file}
    job["static_configs"] = [
        {"targets": list(group.targets), **({"labels": dict(group.labels)} if group.labels else {})}
        for group in endpoint.groups
    ]
    return job


def prometheus_scrape_configs(spec: Spec) -> dict[str, Any]:
    """``scrape_configs:`` for ``prometheus.yml`` (jobs named after the endpoints: their ``job`` label)."""
    return {"scrape_configs": [scrape_job(e) for e in spec.endpoints]}


def vmagent_config(spec: Spec) -> dict[str, Any]:
    """A whole vmagent ``-promscrape.config`` with the same jobs."""
    return {
        "global": {"scrape_interval": spec.service.scrape_interval},
        "scrape_configs": [scrape_job(e) for e in spec.endpoints],
    }
