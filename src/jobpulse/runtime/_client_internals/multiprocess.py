"""Multi-process mode: the value class switch, a gauge family's mode, ``mark_process_dead`` and the mmap files."""

from __future__ import annotations

import os
import struct
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
