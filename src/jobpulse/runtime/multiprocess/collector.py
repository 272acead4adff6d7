"""Reading: one ``/metrics`` per host, merging every process's files under the read lock."""

from __future__ import annotations

import fcntl
import json
import logging
import math
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from jobpulse.runtime._client_internals import StockMultiProcessCollector, read_mmap_file, set_gauge_mode
from jobpulse.runtime.multiprocess.compaction import compact
from jobpulse.runtime.multiprocess.journal import READ_LOCK, flock, visible_files
from jobpulse.runtime.multiprocess.merge import exact_sum
from jobpulse.runtime.multiprocess.setup import directory_of

if TYPE_CHECKING:
    from jobpulse.runtime.exposition import MetricsApp


log = logging.getLogger("jobpulse.multiprocess")

_GO: Any = floatToGoString


class MultiprocessCollector(StockMultiProcessCollector):  # type: ignore[misc]
    """prometheus_client's ``MultiProcessCollector``, reading under jobpulse's lock and journal.

    Sums are exact (``math.fsum``) so that the order files are listed in never changes a value. Every
    scrape also reports ``jobpulse_multiprocess_files`` (files read), and :attr:`last_files` /
    :attr:`last_series` keep the numbers of the last collect for tests and benchmarks.

    ``compact_above=N``: when a scrape reads more than N files, compact dead processes' files in a background
    thread (at most once per ``compact_interval`` seconds) — for servers without an exit hook (uvicorn
    ``--workers``, Celery children compacting each other). The scrape itself never waits for it.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None,
        path: str | Path | None = None,
        *,
        compact_above: int | None = None,
        compact_interval: float = 30.0,
    ) -> None:
        self.directory = directory_of(path)
        self.last_files = 0
        self.last_series = 0
        self.compact_above = compact_above
        self.compact_interval = compact_interval
        self.compactions = 0
        self._compacting = False
        self._last_compaction = -math.inf
        self._compact_lock = threading.Lock()
        StockMultiProcessCollector.__init__(self, registry, str(self.directory))

    def collect(self) -> Iterator[Metric]:
        with flock(self.directory / READ_LOCK, fcntl.LOCK_SH):
            files = visible_files(self.directory)
            merged = _merge(files)
        self.last_files = len(files)
        self.last_series = sum(len(m.samples) for m in merged)
        self._maybe_compact(len(files))
        yield from merged
        yield GaugeMetricFamily(
            "jobpulse_multiprocess_files",
            "Multi-process *.db files read by this scrape (grows with dead workers until they are compacted).",
            value=len(files),
        )

    def _maybe_compact(self, files: int) -> None:
        if self.compact_above is None or files <= self.compact_above:
            return
        now = time.monotonic()
        with self._compact_lock:
            if self._compacting or now - self._last_compaction < self.compact_interval:
                return
            self._compacting = True
            self._last_compaction = now
        threading.Thread(target=self._compact, name="jobpulse-multiprocess-compact", daemon=True).start()

    def _compact(self) -> None:
        try:
            result = compact(self.directory)
            if result.generation is not None:
                self.compactions += 1
        except Exception:
            log.exception("jobpulse: background compaction of %s failed", self.directory)
        finally:
            with self._compact_lock:
                self._compacting = False


_Labels = tuple[tuple[str, str], ...]
_SeriesKey = tuple[str, _Labels]


class _Family:
    """One metric's samples while files are merged: sums as lists (added with fsum at the end), picks, buckets."""

    __slots__ = ("buckets", "help", "kind", "mode", "picked", "sums")

    def __init__(self, help_text: str, kind: str, mode: str) -> None:
        self.help = help_text
        self.kind = kind
        self.mode = mode
        self.sums: dict[_SeriesKey, list[float]] = {}
        self.picked: dict[_SeriesKey, tuple[float, float]] = {}
        self.buckets: dict[_Labels, dict[float, list[float]]] = {}


#: mmap key → (metric name, sample name, sorted labels, help, le as float or None, labels without le)
_ParsedKey = tuple[str, str, _Labels, str, float | None, _Labels]


def _parse_key(key: str) -> _ParsedKey:
    metric_name, name, labels, help_text = json.loads(key)
    items: _Labels = tuple(sorted(labels.items()))
    le = labels.get("le")
    if le is not None:
        return metric_name, name, items, help_text, float(le), tuple(i for i in items if i[0] != "le")
    return metric_name, name, items, help_text, None, items


def _merge(files: list[str]) -> list[Metric]:
    """Read and merge the files in one pass: prometheus_client's semantics, exact sums.

    The same result as ``MultiProcessCollector`` (counters, histograms and summaries summed, histogram buckets
    made cumulative, gauges by mode) except that sums are ``math.fsum`` — independent of the order files are
    listed in, so a compaction never moves a value down. A file that vanished (a ``live*`` gauge file removed by
    prometheus_client's ``mark_process_dead``) or is still empty (a new worker's, between its creation and its
    first size) reads as no samples instead of failing the scrape.
    """
    families: dict[str, _Family] = {}
    cache: dict[str, _ParsedKey] = {}
    for path in files:
        parts = Path(path).name.split("_", 2)
        kind = parts[0]
        mode = parts[1] if kind == "gauge" and len(parts) > 2 else ""
        try:
            file_values = read_mmap_file(path)
            entries = list(file_values)
        except FileNotFoundError:
            continue
        except (struct.error, RuntimeError) as exc:
            if Path(path).exists() and Path(path).stat().st_size >= 8:
                log.warning("jobpulse: skipping unreadable multiprocess file %s: %s", path, exc)
            continue
        pid = parts[2].split(".db", 1)[0] if mode else ""
        for key, value, timestamp, _ in entries:
            parsed = cache.get(key)
            if parsed is None:
                parsed = cache[key] = _parse_key(key)
            metric_name, name, labels, help_text, le, without = parsed
            family = families.get(metric_name)
            if family is None:
                family = families[metric_name] = _Family(help_text, kind, mode)
            if kind == "histogram" and le is not None:
                by_bound = family.buckets.get(without)
                if by_bound is None:
                    by_bound = family.buckets[without] = {}
                by_bound.setdefault(le, []).append(value)
            elif kind != "gauge" or mode in ("sum", "livesum"):
                family.sums.setdefault((name, labels), []).append(value)
            else:
                series = (name, (*labels, ("pid", pid))) if mode in ("all", "liveall") else (name, labels)
                current = family.picked.get(series)
                if (
                    current is None
                    or (mode in ("max", "livemax") and value > current[0])
                    or (mode in ("min", "livemin") and value < current[0])
                    or (mode in ("mostrecent", "livemostrecent") and timestamp > current[1])
                ):
                    family.picked[series] = (value, timestamp)
    out: list[Metric] = []
    for metric_name, family in families.items():
        metric = Metric(metric_name, family.help, family.kind)
        if family.kind == "gauge":
            set_gauge_mode(metric, family.mode)
        samples: list[Sample] = []
        for (name, labels), numbers in family.sums.items():
            samples.append(Sample(name, dict(labels), exact_sum(numbers)))
        for (name, labels), (value, _) in family.picked.items():
            samples.append(Sample(name, dict(labels), value))
        for without, by_bound in family.buckets.items():
            acc = 0.0
            base = dict(without)
            for bound in sorted(by_bound):
                acc += exact_sum(by_bound[bound])
                samples.append(Sample(metric_name + "_bucket", {**base, "le": _GO(bound)}, acc))
            samples.append(Sample(metric_name + "_count", base, acc))
        metric.samples = samples
        out.append(metric)
    return out


def multiprocess_registry(
    directory: str | Path | None = None, *, compact_above: int | None = None
) -> tuple[CollectorRegistry, MultiprocessCollector]:
    """A fresh registry holding only a :class:`MultiprocessCollector` of ``directory``, and the collector."""
    registry = CollectorRegistry()
    collector = MultiprocessCollector(registry, directory, compact_above=compact_above)
    return registry, collector


def metrics_app(
    directory: str | Path | None = None, *, token: str | None = None, compact_above: int | None = 200
) -> MetricsApp:
    """The host's ``/metrics``: a :class:`~jobpulse.runtime.exposition.MetricsApp` merging every process's files.

    Scrapes that read more than ``compact_above`` files start a background compaction (``None``: never).
    """
    from jobpulse.runtime.exposition import MetricsApp

    registry, _ = multiprocess_registry(directory, compact_above=compact_above)
    return MetricsApp(registry, token=token)
