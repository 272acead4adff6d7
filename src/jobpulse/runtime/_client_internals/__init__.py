"""Every use of prometheus_client's private internals, in one place.

jobpulse relies on a few things prometheus_client does not promise:

- a counter/gauge child's ``_value`` (with ``inc``) and a histogram child's ``_upper_bounds``, ``_buckets``
  and ``_sum``: the job tracker updates them directly, which saves three Python frames per update
  (benchmarks/bench_tracker.py);
- multi-process mode's value class switch (``values.ValueClass``, ``MultiProcessValue``, called with the gauge's
  ``multiprocess_mode`` keyword: gauges not summed are written only once set), the mmap file layout
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
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as _metrics
from prometheus_client import multiprocess as _pm
from prometheus_client import values as _values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

from jobpulse.runtime._client_internals.exposition import (
    STANDARD_KINDS,
    Family,
    cells,
    child_samples,
    children,
    escape_name,
    is_legacy_labelname_rune,
    is_valid_legacy_metric_name,
    label_names,
    overrides_samples,
    plain_cells,
    read_created,
    read_exemplar,
    read_value,
    registered,
    registry_collectors,
    restricted_collectors,
    standard_family,
    use_created,
)
from jobpulse.runtime._client_internals.multiprocess import (
    StockMultiProcessCollector,
    multiprocess_values_enabled,
    read_mmap_file,
    set_gauge_mode,
    stock_mark_process_dead,
    use_multiprocess_values,
    write_mmap_file,
)
from jobpulse.runtime._client_internals.values import adder, gauge_value, observer

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
    "gauge_value",
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

# prometheus_client has no annotations on these: typed as Any once, here (for the checks below)
_PM: Any = _pm
_MMAP: Any = MmapedDict
_VALUES: Any = _values
_METRICS: Any = _metrics


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
