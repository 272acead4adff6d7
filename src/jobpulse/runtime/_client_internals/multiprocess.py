"""Multi-process mode: the value class switch, a gauge family's mode, ``mark_process_dead`` and the mmap files."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess as _pm
from prometheus_client import values as _values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

# prometheus_client has no annotations on these: typed as Any once, here
StockMultiProcessCollector: Any = _pm.MultiProcessCollector
_PM: Any = _pm
_MMAP: Any = MmapedDict
_VALUES: Any = _values


#: gauge modes whose merge adds every process's value: a process's untouched 0 changes nothing there
SUMMED_GAUGE_MODES = ("sum", "livesum")
_owned_lock = threading.Lock()


class OwnedGaugeValue:
    """A multi-process gauge value that enters this process's file only once the process sets it.

    prometheus_client writes a 0 for every gauge a process merely creates (all of them, when a process loads the
    whole spec), and the merge then reads that 0 as the process's value: ``min`` picks it, ``max`` picks it over
    negative values, ``all`` shows it as a series. A gauge is the value of whoever sets it; a process that never
    does exports nothing for it (render_pipeline's workers exported ``jobpulse_redis_up 0`` that only the web
    process sets).
    """

    __slots__ = ("_args", "_cell", "_kwargs", "_stock")

    def __init__(self, stock: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._stock, self._args, self._kwargs = stock, args, kwargs
        self._cell: Any = None

    def _owned(self) -> Any:
        cell = self._cell
        if cell is None:
            with _owned_lock:
                if self._cell is None:
                    self._cell = self._stock(*self._args, **self._kwargs)
                cell = self._cell
        return cell

    def inc(self, amount: float) -> None:
        self._owned().inc(amount)

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._owned().set(value, timestamp)

    def set_exemplar(self, exemplar: Any) -> None:
        return  # as prometheus_client's multi-process values: no exemplars

    def get(self) -> float:
        cell = self._cell
        return 0.0 if cell is None else float(cell.get())

    def get_exemplar(self) -> None:
        return None


class OwnedGaugeValues:
    """prometheus_client's multi-process value class (``values.ValueClass``), except that a gauge merged by
    picking one process's value (every mode but ``sum``/``livesum``) is an :class:`OwnedGaugeValue`."""

    _multiprocess = True

    def __init__(self, stock: Any) -> None:
        self.stock = stock

    def __call__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: Any,
        labelvalues: Any,
        help_text: str,
        multiprocess_mode: str = "",
        **kwargs: Any,
    ) -> Any:
        args = (typ, metric_name, name, labelnames, labelvalues, help_text)
        if typ == "gauge" and multiprocess_mode not in SUMMED_GAUGE_MODES:
            return OwnedGaugeValue(self.stock, args, {"multiprocess_mode": multiprocess_mode, **kwargs})
        return self.stock(*args, multiprocess_mode=multiprocess_mode, **kwargs)

    def close_all_files(self) -> None:
        self.stock.close_all_files()


def multiprocess_values_enabled() -> bool:
    return bool(getattr(_values.ValueClass, "_multiprocess", False))


def use_multiprocess_values() -> None:
    """Make metrics created from now on write mmap files (prometheus_client picks its value class at import),
    gauges only once their process sets them (:class:`OwnedGaugeValue`)."""
    current = _values.ValueClass
    if isinstance(current, OwnedGaugeValues):
        return
    # prometheus_client's own when $PROMETHEUS_MULTIPROC_DIR was set before it was imported
    stock = current if multiprocess_values_enabled() else _VALUES.MultiProcessValue()
    _values.ValueClass = OwnedGaugeValues(stock)


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
