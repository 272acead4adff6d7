"""Every use of prometheus_client's private internals, in one place.

jobpulse relies on a few things prometheus_client does not promise:

- a counter/gauge child's ``_value`` (with ``inc``) and a histogram child's ``_upper_bounds``, ``_buckets``
  and ``_sum``: the job tracker updates them directly, which saves three Python frames per update
  (benchmarks/bench_tracker.py);
- multi-process mode's value class switch (``values.ValueClass``, ``MultiProcessValue``), the mmap file layout
  read by ``MmapedDict.read_all_values_from_file`` (and written by :func:`write_mmap_file` when dead workers'
  files are compacted), the ``_multiprocess_mode`` attribute of a gauge family, and ``MultiProcessCollector``;
- for the exposition renderer (``jobpulse.runtime.exposition``): a registry's collectors in order
  (``_collector_to_names``, ``_names_to_collectors``, ``_collectors_without_names``, ``_target_info``), a metric
  wrapper's fields (``_name``, ``_documentation``, ``_unit``, ``_labelnames``, ``_upper_bounds``, ``_states``), its
  children (``_metrics`` under ``_lock``), a child's value cells (``_value``/``_exemplar`` of a ``MutexValue``,
  ``_count``, ``_sum``, ``_buckets``, ``_created``), the ``_use_created`` switch, and the name-escaping helpers of
  ``prometheus_client.openmetrics.exposition`` (``_escape``, ``_is_legacy_labelname_rune``,
  ``validation._is_valid_legacy_metric_name``). The renderer reads values without calling ``get()`` (one
  attribute load instead of a lock and a call per value) and formats what it read exactly as the encoders do.

Nothing else in jobpulse touches a private name of prometheus_client. ``pyproject.toml`` bounds
prometheus_client from above to releases on which ``tests/runtime/test_client_internals.py`` has passed;
:func:`check` states each assumption and fails loudly, naming it, when a release breaks one.
"""

from __future__ import annotations

import math
import operator
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as _metrics
from prometheus_client import multiprocess as _pm
from prometheus_client import validation as _validation
from prometheus_client import values as _values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.openmetrics import exposition as _om_exposition

__all__ = [
    "STANDARD_KINDS",
    "Family",
    "StockMultiProcessCollector",
    "adder",
    "cells",
    "check",
    "child_samples",
    "children",
    "escape_name",
    "is_legacy_labelname_rune",
    "is_valid_legacy_metric_name",
    "label_names",
    "multiprocess_values_enabled",
    "observer",
    "overrides_samples",
    "plain_cells",
    "read_created",
    "read_exemplar",
    "read_mmap_file",
    "read_value",
    "registered",
    "registry_collectors",
    "restricted_collectors",
    "set_gauge_mode",
    "standard_family",
    "stock_mark_process_dead",
    "use_created",
    "use_multiprocess_values",
    "write_mmap_file",
]

# prometheus_client has no annotations on these: typed as Any once, here
StockMultiProcessCollector: Any = _pm.MultiProcessCollector
_PM: Any = _pm
_MMAP: Any = MmapedDict
_VALUES: Any = _values
_METRICS: Any = _metrics


# --- direct updates (job tracker) -------------------------------------------------------------------------------


def adder(child: Any) -> Callable[[float], None] | None:
    """``add(amount)`` for a counter or gauge child: its value's own ``inc``, skipping the wrapper's checks.

    A child returned by ``.labels()`` is always observable and the tracker's amounts are ±1, so
    prometheus_client's checks can never fire there. Anything unusual (a ``mostrecent`` gauge, a value without
    ``inc``) gets the public methods.
    """
    if child is None:
        return None
    value = getattr(child, "_value", None)
    if value is None or getattr(child, "_is_most_recent", False) or not hasattr(value, "inc"):
        return lambda amount: child.inc(amount) if amount >= 0 else child.dec(-amount)
    inc: Callable[[float], None] = value.inc
    return inc


def gauge_value(child: Any) -> float:
    """A gauge child's current value (what DogStatsD is sent after ``inc``/``dec``/``set``)."""
    value = getattr(child, "_value", None)
    return float(value.get()) if value is not None and hasattr(value, "get") else math.nan


def observer(child: Any) -> Callable[[float], None] | None:
    """``observe(amount)`` for a histogram child, as prometheus_client does it, with a binary search."""
    import bisect

    if child is None:
        return None
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if not bounds or not buckets or total is None or len(bounds) != len(buckets) or bounds[-1] != math.inf:
        observe: Callable[[float], None] = child.observe
        return observe
    add_sum = total.inc
    incs = tuple(bucket.inc for bucket in buckets)

    def fast_observe(amount: float, _bisect: Callable[..., int] = bisect.bisect_left) -> None:
        if amount != amount:  # NaN: prometheus_client adds it to the sum and to no bucket
            add_sum(amount)
            return
        add_sum(amount)
        incs[_bisect(bounds, amount)](1)

    return fast_observe


# --- multi-process mode -----------------------------------------------------------------------------------------


def multiprocess_values_enabled() -> bool:
    return bool(getattr(_values.ValueClass, "_multiprocess", False))


def use_multiprocess_values() -> None:
    """Make metrics created from now on write mmap files (prometheus_client picks its value class at import)."""
    if not multiprocess_values_enabled():
        _values.ValueClass = _VALUES.MultiProcessValue()


def set_gauge_mode(metric: Metric, mode: str) -> None:
    """Tag a merged gauge family with its multi-process mode, as prometheus_client's own collector does."""
    metric._multiprocess_mode = mode  # type: ignore[attr-defined]


def stock_mark_process_dead(pid: int, path: str) -> None:
    """prometheus_client's ``mark_process_dead``: removes the ``live*`` gauge files of ``pid``."""
    _PM.mark_process_dead(pid, path)


def read_mmap_file(path: str | Path) -> Iterator[tuple[str, float, float, int]]:
    """(key, value, timestamp, offset) of every entry of a multi-process ``*.db`` file.

    Raises ``struct.error`` for a file shorter than its header and ``RuntimeError`` for a corrupt one.
    """
    entries: Iterator[tuple[str, float, float, int]] = _MMAP.read_all_values_from_file(str(path))
    return entries


def write_mmap_file(path: Path, entries: Mapping[str, tuple[float, float]]) -> None:
    """Write a multi-process ``*.db`` file with ``entries`` (key → value, timestamp), fsynced.

    The layout is prometheus_client's: an 8-byte header (bytes used, padding), then per entry a 4-byte key
    length, the UTF-8 key padded with spaces to 8-byte alignment, and two doubles (value, timestamp).
    """
    body = bytearray()
    for key in sorted(entries):
        value, timestamp = entries[key]
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
        body += struct.pack(f"i{len(padded)}sdd", len(encoded), padded, value, timestamp)
    used = 8 + len(body)
    with path.open("wb") as out:
        out.write(struct.pack("ii", used, 0))
        out.write(body)
        out.flush()
        os.fsync(out.fileno())


# --- exposition (jobpulse.runtime.exposition) ---------------------------------------------------------------------

#: The metric classes whose samples the renderer produces itself, by exact class (a subclass may override anything).
#: ``Info`` and ``Enum`` (rare, a few samples) go through ``collect()`` like custom collectors.
STANDARD_KINDS: dict[type, str] = {
    _metrics.Counter: "counter",
    _metrics.Gauge: "gauge",
    _metrics.Summary: "summary",
    _metrics.Histogram: "histogram",
}
#: Methods whose override on an instance (``Gauge.set_function`` replaces ``_child_samples``) changes the samples.
_SAMPLE_METHODS = frozenset(("collect", "_samples", "_multi_samples", "_child_samples", "_get_metric"))
_MutexValue: Any = _values.MutexValue

#: A ``MutexValue``'s float and exemplar, read without its lock: one attribute load is atomic under the GIL, and
#: prometheus_client's own collect takes the lock per value, so it gives no consistency across values either.
read_value: Callable[[Any], float] = operator.attrgetter("_value")
read_exemplar: Callable[[Any], Any] = operator.attrgetter("_exemplar")
read_created: Callable[[Any], float] = operator.attrgetter("_created")

# the encoders' own name-escaping helpers (label *values* are escaped by jobpulse: three replacements)
escape_name: Callable[[str, str, Callable[[str, int], bool]], str] = _om_exposition._escape
is_legacy_labelname_rune: Callable[[str, int], bool] = _om_exposition._is_legacy_labelname_rune
is_valid_legacy_metric_name: Callable[[str], bool] = _validation._is_valid_legacy_metric_name


class Family(NamedTuple):
    """What a standard metric wrapper exposes, read once: name, help, type, unit, label names and layout."""

    kind: str
    name: str
    documentation: str
    unit: str
    labelnames: tuple[str, ...]
    upper_bounds: tuple[float, ...]  # histograms only


def use_created() -> bool:
    """Whether counters, histograms and summaries expose ``_created`` (``disable_created_metrics()``)."""
    return bool(_METRICS._use_created)


def registry_collectors(registry: object) -> tuple[Metric | None, list[Any]] | None:
    """(target_info family, collectors in order) as ``CollectorRegistry.collect`` sees them; None for other objects.

    The snapshot is taken under the registry's lock, as ``collect()`` takes it.
    """
    if not isinstance(registry, CollectorRegistry) or type(registry).collect is not CollectorRegistry.collect:
        return None
    reg: Any = registry
    with reg._lock:
        collectors = list(reg._collector_to_names)
        target = reg._target_info_metric() if reg._target_info else None
    return target, collectors


def restricted_collectors(registry: object, names: frozenset[str]) -> tuple[Metric | None, list[Any]] | None:
    """The collectors ``registry.restricted_registry(names)`` would ask, in registration order; None if not a registry.

    prometheus_client's ``RestrictedRegistry`` walks them as a set (an order that changes from run to run); here they
    come in the order they were registered, so the same request gives the same bytes.
    """
    if not isinstance(registry, CollectorRegistry):
        return None
    reg: Any = registry
    with reg._lock:
        by_name = reg._names_to_collectors
        wanted = {id(by_name[n]) for n in names if n != "target_info" and n in by_name}
        wanted.update(id(c) for c in getattr(reg, "_collectors_without_names", ()))  # prometheus_client >= 0.24
        collectors = [c for c in reg._collector_to_names if id(c) in wanted]
        target = reg._target_info_metric() if "target_info" in names and reg._target_info else None
    return target, collectors


def registered(registry: object, name: str) -> Any:
    """The collector registered under sample name ``name`` in a ``CollectorRegistry`` (None if none)."""
    by_name: Mapping[str, Any] = getattr(registry, "_names_to_collectors", {})
    return by_name.get(name)


def label_names(metric: Any) -> tuple[str, ...]:
    """A prometheus_client metric wrapper's label names."""
    return tuple(metric._labelnames)


def overrides_samples(obj: object) -> bool:
    """The instance replaces a sample method (``Gauge.set_function`` replaces ``_child_samples``)."""
    attributes = getattr(obj, "__dict__", None)
    return attributes is None or not _SAMPLE_METHODS.isdisjoint(attributes)


def standard_family(collector: object) -> Family | None:
    """The layout of a Counter/Gauge/Summary/Histogram as prometheus_client made it; None for anything else."""
    kind = STANDARD_KINDS.get(type(collector))
    if kind is None:
        return None
    c: Any = collector
    if overrides_samples(c) or c._labelvalues:
        return None
    bounds = tuple(c._upper_bounds) if kind == "histogram" else ()
    return Family(kind, c._name, c._documentation, c._unit, tuple(c._labelnames), bounds)


def children(collector: Any) -> list[tuple[tuple[str, ...], Any]]:
    """(label values, child) of a standard wrapper, copied under its lock as ``_multi_samples`` does."""
    if not collector._labelnames:
        return [((), collector)]
    with collector._lock:
        return list(collector._metrics.items())


def child_samples(child: Any) -> Iterable[tuple[str, dict[str, str], float, Any, Any, Any]]:
    """(suffix, labels, value, timestamp, exemplar, native histogram) of one child, from prometheus_client itself."""
    samples: Iterable[tuple[str, dict[str, str], float, Any, Any, Any]] = child._child_samples()
    return samples


def cells(kind: str, child: Any) -> tuple[Any, ...]:
    """The value objects a child's samples read, in sample order (histogram: buckets then sum)."""
    if kind in ("counter", "gauge"):
        return (child._value,)
    if kind == "summary":
        return (child._count, child._sum)
    if kind == "histogram":
        return (*child._buckets, child._sum)
    raise ValueError(f"no value cells for {kind}")


def plain_cells(values: tuple[Any, ...]) -> bool:
    """All cells are in-process ``MutexValue``s (their ``_value`` may be read directly); else use ``get()``."""
    return all(type(v) is _MutexValue for v in values)


# --- the assumptions, checked -------------------------------------------------------------------------------------


def check(workdir: Path) -> list[str]:
    """Every assumption above, tried against the installed prometheus_client; one line per broken one.

    ``workdir`` is an empty directory for the mmap round trip. An empty list means all hold.
    """
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    problems: list[str] = []
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["l"], registry=registry).labels("x")
    gauge = Gauge("g", "g", ["l"], registry=registry).labels("x")
    histogram = Histogram("h", "h", ["l"], buckets=(1.0, 2.0), registry=registry).labels("x")

    for name, child in (("Counter", counter), ("Gauge", gauge)):
        value = getattr(child, "_value", None)
        if value is None or not callable(getattr(value, "inc", None)) or not callable(getattr(value, "get", None)):
            problems.append(f"{name} child has no `_value` with inc()/get(): the tracker's direct updates break")
    add = adder(counter)
    if add is not None:
        add(2.0)
    if registry.get_sample_value("c_total", {"l": "x"}) != 2.0:
        problems.append("adding through a counter's `_value.inc` does not show in the exposition")
    add = adder(gauge)
    if add is not None:
        add(-1.0)
    if registry.get_sample_value("g", {"l": "x"}) != -1.0:
        problems.append("adding through a gauge's `_value.inc` does not show in the exposition")

    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    if bounds != [1.0, 2.0, math.inf] or not isinstance(buckets, list) or len(buckets) != 3:
        problems.append("Histogram child's `_upper_bounds`/`_buckets` changed shape: the fast observe breaks")
    if not callable(getattr(getattr(histogram, "_sum", None), "inc", None)):
        problems.append("Histogram child has no `_sum` with inc()")
    observe = observer(histogram)
    if observe is not None:
        for amount in (0.5, 1.0, 1.5, 3.0):
            observe(amount)
    expected = {"1.0": 2.0, "2.0": 3.0, "+Inf": 4.0}
    for le, count in expected.items():
        if registry.get_sample_value("h_bucket", {"l": "x", "le": le}) != count:
            problems.append(f"fast observe: bucket le={le} is not {count}: the bucket layout changed")
    if registry.get_sample_value("h_sum", {"l": "x"}) != 6.0:
        problems.append("fast observe: the histogram sum is wrong")

    if not hasattr(_values, "ValueClass") or not callable(getattr(_values, "MultiProcessValue", None)):
        problems.append("prometheus_client.values has no ValueClass/MultiProcessValue: multi-process mode breaks")
    if not callable(getattr(_MMAP, "read_all_values_from_file", None)):
        problems.append("MmapedDict.read_all_values_from_file is gone: multi-process files cannot be read")
    if not callable(getattr(_PM, "mark_process_dead", None)):
        problems.append("prometheus_client.multiprocess.mark_process_dead is gone")

    # the file layout, both ways: ours read by theirs, theirs read by ours
    ours = workdir / "ours.db"
    write_mmap_file(ours, {'["m", "m_total", {"a": "b"}, "help"]': (3.5, 7.0)})
    try:
        if [(k, v, t) for k, v, t, _ in read_mmap_file(ours)] != [('["m", "m_total", {"a": "b"}, "help"]', 3.5, 7.0)]:
            problems.append("a file written in prometheus_client's mmap layout does not read back the same")
    except Exception as exc:  # a broken layout may raise anything: report it, do not crash the check
        problems.append(f"reading a file in prometheus_client's mmap layout failed: {exc!r}")
    theirs = workdir / "theirs.db"
    try:
        stock = _MMAP(str(theirs))
        stock.write_value("k", 1.25, 9.0)
        stock.close()
        read = [(k, v, t) for k, v, t, _ in read_mmap_file(theirs)]
        if read != [("k", 1.25, 9.0)]:
            problems.append(f"MmapedDict's own file reads back as {read}")
    except Exception as exc:
        problems.append(f"MmapedDict(path).write_value(key, value, timestamp) failed: {exc!r}")

    family = Metric("g", "g", "gauge")
    set_gauge_mode(family, "max")
    if getattr(family, "_multiprocess_mode", None) != "max":
        problems.append("a gauge family does not keep `_multiprocess_mode`")
    problems.extend(_check_exposition())
    return problems


def _check_exposition() -> list[str]:
    """The renderer's assumptions: registry walk, wrapper fields, children, value cells, escaping helpers."""
    from prometheus_client import (
        Counter,
        Gauge,
        Histogram,
        Summary,
    )

    problems: list[str] = []
    registry = CollectorRegistry(target_info={"env": "x"})
    counter = Counter("rc", "help", ["l"], unit="seconds", registry=registry)
    gauge = Gauge("rg", "g", registry=registry)
    summary = Summary("rs", "s", ["l"], registry=registry)
    histogram = Histogram("rh", "h", ["l"], buckets=(1.0, 2.0), registry=registry)

    class Custom:
        def collect(self) -> list[Metric]:
            return []

    custom = Custom()
    registry.register(custom)
    try:
        snapshot = registry_collectors(registry)
        if snapshot is None or snapshot[1] != [counter, gauge, summary, histogram, custom]:
            problems.append("CollectorRegistry no longer keeps its collectors in `_collector_to_names` in order")
        elif snapshot[0] is None or [s.name for s in snapshot[0].samples] != ["target_info"]:
            problems.append("CollectorRegistry's `_target_info_metric()` no longer gives the target_info family")
        restricted = restricted_collectors(registry, frozenset({"rh_bucket", "rg"}))
        if restricted is None or restricted[1] != [gauge, histogram]:
            problems.append("`_names_to_collectors` no longer maps sample names to their collectors")
    except Exception as exc:
        problems.append(f"walking a CollectorRegistry's collectors failed: {exc!r}")

    expected = {
        counter: Family("counter", "rc_seconds", "help", "seconds", ("l",), ()),
        gauge: Family("gauge", "rg", "g", "", (), ()),
        summary: Family("summary", "rs", "s", "", ("l",), ()),
        histogram: Family("histogram", "rh", "h", "", ("l",), (1.0, 2.0, math.inf)),
    }
    for metric, family in expected.items():
        try:
            shape = standard_family(metric)
        except Exception as exc:
            shape = None
            problems.append(f"reading the fields of a {family.kind} failed: {exc!r}")
        if shape != family:
            problems.append(f"a {family.kind}'s name/documentation/unit/labelnames/buckets read as {shape}")
    if standard_family(custom) is not None:
        problems.append("a custom collector was taken for a standard metric")
    if registered(registry, "rh_bucket") is not histogram or label_names(histogram) != ("l",):
        problems.append("`_names_to_collectors` / `_labelnames` changed: queues.py's lookups break")

    counter.labels("a").inc(2, exemplar={"trace": "t"})
    summary.labels("a").observe(3)
    histogram.labels("a").observe(1.5)
    try:
        kids = children(counter)
        child = kids[0][1]
        if [k for k, _ in kids] != [("a",)] or children(gauge) != [((), gauge)]:
            problems.append("a wrapper's children are no longer `_metrics` (label values → child)")
        values = {
            "counter": [read_value(c) for c in cells("counter", child)],
            "summary": [read_value(c) for c in cells("summary", children(summary)[0][1])],
            "histogram": [read_value(c) for c in cells("histogram", children(histogram)[0][1])],
        }
        if values != {"counter": [2.0], "summary": [1.0, 3.0], "histogram": [0.0, 1.0, 0.0, 1.5]}:
            problems.append(f"value cells (`_value`, `_count`, `_sum`, `_buckets`) read {values}")
        if not plain_cells(cells("counter", child)):
            problems.append("values are no longer `MutexValue`s: the renderer would call get() on every value")
        exemplar = read_exemplar(cells("counter", child)[0])
        if exemplar is None or exemplar.labels != {"trace": "t"}:
            problems.append("a counter's exemplar is no longer its value's `_exemplar`")
        if not isinstance(read_created(child), float):
            problems.append("a child's creation time is no longer `_created`")
    except Exception as exc:
        problems.append(f"reading children and their values failed: {exc!r}")

    gauge.set_function(lambda: 1.0)
    if not overrides_samples(gauge) or overrides_samples(counter):
        problems.append("Gauge.set_function no longer replaces `_child_samples` on the instance")
    samples = list(child_samples(gauge))
    if [tuple(s)[:3] for s in samples] != [("", {}, 1.0)]:
        problems.append(f"a child's `_child_samples()` gives {samples}")

    was = use_created()
    _METRICS.disable_created_metrics()
    off = use_created()
    _METRICS.enable_created_metrics()
    on = use_created()
    if not was:
        _METRICS.disable_created_metrics()
    if off or not on:
        problems.append("`metrics._use_created` no longer follows disable/enable_created_metrics()")

    try:
        escaped = escape_name("a:b.c", "underscores", is_legacy_labelname_rune)
        if escaped != "a_b_c" or not is_valid_legacy_metric_name("a:b") or is_valid_legacy_metric_name("a.b"):
            problems.append("the name-escaping helpers changed behaviour")
    except Exception as exc:
        problems.append(f"the name-escaping helpers of openmetrics.exposition are gone or changed: {exc!r}")
    return problems
