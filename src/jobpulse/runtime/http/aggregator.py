"""The default sink: counts under one lock in plain lists, exposed as a prometheus_client collector."""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from jobpulse.runtime.http.presets import HttpMetric, Preset
from jobpulse.runtime.http.sink import STATUS, STATUS_CLASS, Sink

_go_float: Callable[[float], str] = floatToGoString


class _Cell:
    """The accumulators one (method, route, status) combination updates, resolved once."""

    __slots__ = ("counts", "durations", "first_bytes", "size_counters", "size_summaries")

    def __init__(self) -> None:
        self.counts: list[list[float]] = []
        self.durations: list[tuple[list[float], tuple[float, ...]]] = []
        self.first_bytes: list[tuple[list[float], tuple[float, ...]]] = []
        self.size_counters: list[list[float]] = []
        self.size_summaries: list[list[float]] = []


class Aggregator(Sink, Collector):
    """Counts under one lock in plain lists, exposed as a prometheus_client collector.

    prometheus_client takes a lock per value and several Python calls per update; a request updates
    four to six values, so one lock around list arithmetic is several times cheaper.
    """

    def __init__(self, preset: Preset, app_name: str) -> None:
        self.preset = preset
        self.app_name = app_name
        self._lock = threading.Lock()
        self._series: list[dict[tuple[str, ...], list[float]]] = [{} for _ in preset.metrics]
        self._cells: dict[tuple[str, str, int], _Cell] = {}
        self._gauges = [i for i, m in enumerate(preset.metrics) if m.measure == "in_progress"]
        self._in_progress: dict[str, list[list[float]]] = {}

    # -- hot path --
    def begin(self, method: str) -> None:
        accs = self._in_progress.get(method)
        if accs is None:
            accs = self._gauge_accs(method)
        with self._lock:
            for acc in accs:
                acc[0] += 1

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        cell = self._cells.get((method, route, status))
        if cell is None:
            cell = self._cell(method, route, status)
        with self._lock:
            for acc in self._in_progress[method]:
                acc[0] -= 1
            for acc in cell.counts:
                acc[0] += 1
            for acc, bounds in cell.durations:
                acc[bisect_left(bounds, duration)] += 1
                acc[-1] += duration
            if first_byte is not None:
                for acc, bounds in cell.first_bytes:
                    acc[bisect_left(bounds, first_byte)] += 1
                    acc[-1] += first_byte
            for acc in cell.size_counters:
                acc[0] += size
            for acc in cell.size_summaries:
                acc[0] += 1
                acc[1] += size

    # -- resolution (once per combination) --
    def _values(self, metric: HttpMetric, method: str, route: str, status: int) -> tuple[str, ...]:
        out = []
        for _, role in metric.labels:
            if role == "method":
                out.append(method)
            elif role == "route":
                out.append(route)
            elif role == "status":
                out.append(STATUS.get(status, "0"))
            elif role == "status_class":
                out.append(STATUS_CLASS.get(status, "0xx"))
            else:
                out.append(self.app_name)
        return tuple(out)

    def _acc(self, index: int, values: tuple[str, ...], size: int) -> list[float]:
        series = self._series[index]
        acc = series.get(values)
        if acc is None:
            acc = series[values] = [0.0] * size
        return acc

    def _gauge_accs(self, method: str) -> list[list[float]]:
        with self._lock:
            accs = [self._acc(i, self._values(self.preset.metrics[i], method, "", 0), 1) for i in self._gauges]
            self._in_progress[method] = accs
        return accs

    def _cell(self, method: str, route: str, status: int) -> _Cell:
        cell = _Cell()
        with self._lock:
            for i, metric in enumerate(self.preset.metrics):
                values = self._values(metric, method, route, status)
                if metric.measure == "requests":
                    cell.counts.append(self._acc(i, values, 1))
                elif metric.measure in ("duration", "first_byte"):
                    acc = self._acc(i, values, len(metric.buckets) + 2)  # buckets, +Inf, sum
                    (cell.durations if metric.measure == "duration" else cell.first_bytes).append((acc, metric.buckets))
                elif metric.measure == "response_size":
                    if metric.kind == "summary":
                        cell.size_summaries.append(self._acc(i, values, 2))
                    else:
                        cell.size_counters.append(self._acc(i, values, 1))
            self._cells[(method, route, status)] = cell
        return cell

    # -- exposition --
    def describe(self) -> Iterable[Metric]:
        return [self._family(metric) for metric in self.preset.metrics]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            snapshot = [[(values, list(acc)) for values, acc in series.items()] for series in self._series]
        for metric, series in zip(self.preset.metrics, snapshot, strict=True):
            family = self._family(metric)
            for values, acc in series:
                if metric.kind == "counter":
                    family.add_metric(values, acc[0])  # type: ignore[attr-defined]
                elif metric.kind == "gauge":
                    family.add_metric(values, acc[0])  # type: ignore[attr-defined]
                elif metric.kind == "summary":
                    family.add_metric(values, count_value=acc[0], sum_value=acc[1])  # type: ignore[attr-defined]
                else:
                    cumulative = 0.0
                    buckets = []
                    for bound, n in zip((*metric.buckets, float("inf")), acc[:-1], strict=True):
                        cumulative += n
                        buckets.append((_go_float(bound), cumulative))
                    family.add_metric(values, buckets, acc[-1])  # type: ignore[attr-defined]
            yield family

    @staticmethod
    def _family(metric: HttpMetric) -> Metric:
        names = [name for name, _ in metric.labels]
        if metric.kind == "counter":
            return CounterMetricFamily(metric.name, metric.help, labels=names)
        if metric.kind == "gauge":
            return GaugeMetricFamily(metric.name, metric.help, labels=names)
        if metric.kind == "summary":
            return SummaryMetricFamily(metric.name, metric.help, labels=names)
        return HistogramMetricFamily(metric.name, metric.help, labels=names)


_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, dict[tuple[str, str], Aggregator]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_aggregator(preset: Preset, app_name: str, registry: CollectorRegistry | None) -> Aggregator:
    """One aggregator per (registry, preset, app name): a framework may build its middleware stack twice."""
    if registry is None:
        return Aggregator(preset, app_name)
    with _SHARED_LOCK:
        per_registry = _SHARED.setdefault(registry, {})
        key = (preset.name, app_name)
        aggregator = per_registry.get(key)
        if aggregator is None or aggregator.preset != preset:
            aggregator = Aggregator(preset, app_name)
            registry.register(aggregator)
            per_registry[key] = aggregator
        return aggregator
