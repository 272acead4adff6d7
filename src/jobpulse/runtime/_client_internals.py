"""Every use of prometheus_client's private internals, in one place.

jobpulse relies on a few things prometheus_client does not promise:

- a counter/gauge child's ``_value`` (with ``inc``) and a histogram child's ``_upper_bounds``, ``_buckets``
  and ``_sum``: the job tracker updates them directly, which saves three Python frames per update
  (benchmarks/bench_tracker.py);
- multi-process mode's value class switch (``values.ValueClass``, ``MultiProcessValue``), the mmap file layout
  read by ``MmapedDict.read_all_values_from_file`` (and written by :func:`write_mmap_file` when dead workers'
  files are compacted), the ``_multiprocess_mode`` attribute of a gauge family, and ``MultiProcessCollector``.

Nothing else in jobpulse touches a private name of prometheus_client. ``pyproject.toml`` bounds
prometheus_client from above to releases on which ``tests/runtime/test_client_internals.py`` has passed;
:func:`check` states each assumption and fails loudly, naming it, when a release breaks one.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess as _pm
from prometheus_client import values as _values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

__all__ = [
    "StockMultiProcessCollector",
    "adder",
    "check",
    "multiprocess_values_enabled",
    "observer",
    "read_mmap_file",
    "set_gauge_mode",
    "stock_mark_process_dead",
    "use_multiprocess_values",
    "write_mmap_file",
]

# prometheus_client has no annotations on these: typed as Any once, here
StockMultiProcessCollector: Any = _pm.MultiProcessCollector
_PM: Any = _pm
_MMAP: Any = MmapedDict
_VALUES: Any = _values


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
    return problems
