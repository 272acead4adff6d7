"""The renderer's caches: what changes between scrapes is seen, what does not is not redone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from jobpulse.runtime.exposition import OPENMETRICS, TEXT, Renderer
from jobpulse.runtime.exposition import render as render_module


def _both(registry: CollectorRegistry, renderer: Renderer) -> None:
    assert renderer.render(TEXT) == generate_latest(registry)
    assert renderer.render(OPENMETRICS) == openmetrics_latest(registry)


def test_standard_metrics_are_rendered_without_collect(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["a"], registry=registry)
    histogram.labels("x").observe(1)
    Counter("c", "c", registry=registry).inc()
    renderer = Renderer(registry)
    expected = generate_latest(registry)

    def refuse(self: Any) -> Any:
        raise AssertionError("collect() called on a standard metric")

    monkeypatch.setattr(Histogram, "collect", refuse)
    monkeypatch.setattr(Counter, "collect", refuse)
    assert renderer.render(TEXT) == expected


def test_children_added_removed_and_replaced_between_scrapes() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["a"], buckets=(1, 2), registry=registry)
    renderer = Renderer(registry)
    histogram.labels("x").observe(1)
    _both(registry, renderer)
    histogram.labels("y").observe(5)
    _both(registry, renderer)
    histogram.remove("x")
    _both(registry, renderer)
    histogram.labels("y").observe(1.5)
    histogram.remove("y")
    histogram.labels("y").observe(0.5)  # a new child under the same labels: its values, not the old ones
    _both(registry, renderer)
    assert b'h_count{a="y"} 1.0' in renderer.render(TEXT)
    histogram.clear()
    _both(registry, renderer)


def test_counter_reset_renders_the_new_created_time() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["a"], registry=registry)
    counter.labels("x").inc(2)
    renderer = Renderer(registry)
    _both(registry, renderer)
    child = counter.labels("x")
    child.reset()
    child._created += 1  # reset() in the same clock tick would keep the time: make the change visible
    _both(registry, renderer)


def test_collectors_registered_and_unregistered() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("g", "g", registry=registry)
    renderer = Renderer(registry)
    _both(registry, renderer)
    registry.unregister(gauge)
    _both(registry, renderer)
    Summary("s", "s", ["k"], registry=registry).labels("v").observe(3)
    registry.register(gauge)
    _both(registry, renderer)


def test_set_function_after_the_first_scrape() -> None:
    registry = CollectorRegistry()
    plain = Gauge("g", "g", registry=registry)
    labelled = Gauge("gl", "gl", ["a"], registry=registry)
    labelled.labels("x").set(1)
    renderer = Renderer(registry)
    _both(registry, renderer)
    plain.set_function(lambda: 42)
    labelled.labels("x").set_function(lambda: 7)
    _both(registry, renderer)
    assert b"g 42.0" in renderer.render(TEXT) and b'gl{a="x"} 7.0' in renderer.render(TEXT)


def test_a_gauge_set_to_minus_zero_after_zero() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("g", "g", registry=registry)
    renderer = Renderer(registry)
    _both(registry, renderer)
    gauge.set(-0.0)
    assert b"g -0.0" in renderer.render(TEXT)


class Custom:
    def __init__(self) -> None:
        self.value = 1.0

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("custom", "custom", labels=["id"])
        for i in range(3):
            family.add_metric([f"id-{i}"], self.value + i)
        yield family


def test_custom_collectors_take_the_generic_path() -> None:
    registry = CollectorRegistry()
    custom = Custom()
    registry.register(custom)
    renderer = Renderer(registry)
    _both(registry, renderer)
    custom.value = 5.0
    _both(registry, renderer)


def test_generic_prefixes_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom collector with new label values at every scrape cannot grow the cache without bound."""
    monkeypatch.setattr(render_module, "_PREFIX_FLOOR", 100)
    registry = CollectorRegistry()

    class Churning:
        scrape = 0

        def collect(self) -> Iterator[Metric]:
            Churning.scrape += 1
            family = GaugeMetricFamily("churn", "churn", labels=["id"])
            for i in range(30):
                family.add_metric([f"{Churning.scrape}-{i}"], 1)
            yield family

    registry.register(Churning())
    renderer = Renderer(registry)
    sizes = []
    for _ in range(20):
        renderer.render(TEXT)
        sizes.append(sum(len(state.prefixes) for state in renderer._states.values()))
    assert max(sizes) <= 130


def test_any_collector_not_only_a_registry() -> None:
    """MetricsApp(registry) accepts anything with collect(): a RestrictedRegistry, a collector."""
    registry = CollectorRegistry()
    Counter("c", "c", registry=registry).inc()
    restricted = registry.restricted_registry(["c_total"])
    assert Renderer(restricted).render(TEXT) == generate_latest(restricted)
    assert Renderer(Custom()).render(OPENMETRICS) == openmetrics_latest(Custom())


def test_concurrent_scrapes_while_children_change() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["a"], registry=registry)
    renderer = Renderer(registry)
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                body = renderer.render(OPENMETRICS)
                assert body.endswith(b"# EOF\n")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=scrape) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(3000):
        histogram.labels(str(i % 50)).observe(i)
        if i % 7 == 0:
            histogram.remove(str(i % 50))
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    _both(registry, renderer)


def test_a_long_render_lets_other_threads_take_the_gil(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CHECK_EVERY children (or generic samples) the render looks at the clock and sleeps 0 s when due."""
    from jobpulse.runtime.exposition import pacing

    sleeps: list[float] = []
    monkeypatch.setattr(pacing.time, "sleep", sleeps.append)
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["a"], registry=registry)
    for i in range(10 * pacing.CHECK_EVERY):
        histogram.labels(str(i)).observe(i)
    registry.register(Custom())
    eager = Renderer(registry, release_gil_every=0.0)
    never = Renderer(registry, release_gil_every=None)
    assert eager.render(OPENMETRICS) == never.render(OPENMETRICS) == openmetrics_latest(registry)
    assert sleeps == [0] * 10


def test_caches_are_kept_for_a_few_formats_only() -> None:
    """Asking for every format and escaping in turn cannot multiply the memory the caches hold."""
    from jobpulse.runtime.exposition import negotiate
    from jobpulse.runtime.exposition.render import MAX_FORMATS

    registry = CollectorRegistry()
    Histogram("h", "h", ["a"], registry=registry).labels("x").observe(1)
    renderer = Renderer(registry)
    accepts = [
        f"{media}; version=1.0.0; escaping={escaping}"
        for media in ("application/openmetrics-text", "text/plain")
        for escaping in ("allow-utf-8", "underscores", "dots", "values")
    ]
    for accept in accepts * 2:
        renderer.render(negotiate(accept))
        assert len(renderer._states) <= MAX_FORMATS
    assert renderer.render(OPENMETRICS) == openmetrics_latest(registry)
