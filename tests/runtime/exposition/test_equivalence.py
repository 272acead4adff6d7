"""The renderer writes exactly what prometheus_client's encoders write, on 10,000 random registries.

Each example builds a registry at random (``registries.py``: every metric and family type, escaping,
NaN/±Inf/-0.0, exemplars, timestamps, created samples on or off, target_info), renders it with the
:class:`Renderer` and with prometheus_client for a negotiated format (text 0.0.4, text 1.0.0 or
OpenMetrics, each escaping scheme), changes it (children added, removed, reset or replaced, values
updated, collectors unregistered or added) and compares again — the renders after the change are the ones
that read the caches — then in Prometheus' own format and in the first one once more.

``make test`` runs 10,000 registries (about 30 s of CPU). More: ``JOBPULSE_EQUIVALENCE_EXAMPLES=100000``;
larger registries (up to 12 metrics of up to 40 children): ``JOBPULSE_EQUIVALENCE_LARGE=1``.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client import metrics as client_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from jobpulse.runtime.exposition import Renderer, negotiate
from jobpulse.runtime.multiprocess import MultiprocessCollector
from tests.runtime.exposition.registries import ACCEPTS, PROMETHEUS_ACCEPT, random_process_files, random_registry

EXAMPLES = int(os.environ.get("JOBPULSE_EQUIVALENCE_EXAMPLES", "10000"))
LARGE = os.environ.get("JOBPULSE_EQUIVALENCE_LARGE", "") not in ("", "0")
RANDOMS = st.randoms(use_true_random=True)


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _stock(registry: object, accept: str) -> tuple[bytes | None, str, str | None]:
    encoder, content_type = choose_encoder(accept)
    try:
        return encoder(registry), content_type, None
    except Exception as exc:  # an invalid family (a custom collector's): jobpulse must fail as well
        return None, content_type, type(exc).__name__


def _same(registry: CollectorRegistry, renderer: Renderer, accept: str) -> None:
    expected, content_type, error = _stock(registry, accept)
    fmt = negotiate(accept)
    assert fmt.content_type == content_type
    if error is not None:
        with pytest.raises(Exception):  # noqa: B017 - the same registry must not render either
            renderer.render(fmt)
        return
    assert renderer.render(fmt) == expected


@pytest.mark.parametrize("created", [True, False], ids=["created", "no-created"])
@_settings(EXAMPLES // 2)
@given(rng=RANDOMS)
def test_same_bytes_as_prometheus_client(created: bool, rng: random.Random) -> None:
    restore = client_metrics._use_created
    client_metrics._use_created = created  # prometheus_client.disable_created_metrics(), undone after
    try:
        registry, changes = random_registry(rng, LARGE)
        renderer = Renderer(registry)
        accept = rng.choice(ACCEPTS)
        _same(registry, renderer, accept)
        for change in changes:
            change()
        _same(registry, renderer, accept)  # nothing the caches kept may leak into the new state
        _same(registry, renderer, PROMETHEUS_ACCEPT)
        _same(registry, renderer, accept)
    finally:
        client_metrics._use_created = restore


@_settings(max(EXAMPLES // 20, 50))
@given(rng=RANDOMS)
def test_multiprocess_collectors(tmp_path_factory: pytest.TempPathFactory, rng: random.Random) -> None:
    """prometheus_client's MultiProcessCollector and jobpulse's, on random mmap files of a few processes."""
    directory = Path(tmp_path_factory.mktemp("mp"))
    random_process_files(rng, directory)
    for collector_class in (MultiProcessCollector, MultiprocessCollector):
        registry = CollectorRegistry()
        collector_class(registry, str(directory))
        renderer = Renderer(registry)
        accept = rng.choice(ACCEPTS)
        _same(registry, renderer, accept)
        _same(registry, renderer, accept)


def _families(body: bytes) -> list[str]:
    """The blocks of an exposition, one per ``# HELP``, sorted (prometheus_client's filtered order varies)."""
    return sorted(re.split(r"(?m)^(?=# HELP )", body.decode("utf-8").removesuffix("# EOF\n")))


@_settings(max(EXAMPLES // 10, 50))
@given(rng=RANDOMS)
def test_name_filter_selects_what_prometheus_client_selects(rng: random.Random) -> None:
    registry, _ = random_registry(rng)
    sample_names = [s.name for m in registry.collect() for s in m.samples]
    names = [rng.choice([*sample_names, "target_info", "nothing"]) for _ in range(rng.randint(0, 4))]
    accept = rng.choice(ACCEPTS)
    encoder, _ = choose_encoder(accept)
    renderer = Renderer(registry)
    fmt = negotiate(accept)
    try:
        expected = encoder(registry.restricted_registry(names))
    except Exception:
        with pytest.raises(Exception):  # noqa: B017 - whatever prometheus_client raised, jobpulse raises too
            renderer.render(fmt, names)
        return
    got = renderer.render(fmt, names)
    assert _families(got) == _families(expected)
    assert got.endswith(b"# EOF\n") == expected.endswith(b"# EOF\n")
