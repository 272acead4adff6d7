"""Merging dead processes' files into one file's worth of values, and writing it as a prometheus_client mmap file."""

from __future__ import annotations

import logging
import math
import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from jobpulse.runtime._client_internals import read_mmap_file, write_mmap_file

log = logging.getLogger("jobpulse.multiprocess")

#: Kinds whose compacted value is a sum that must never decrease (counters and what behaves like them).
_MONOTONIC = ("counter", "histogram", "summary")
MERGED_GAUGES = ("sum", "max", "min", "mostrecent")


def exact_sum(parts: Iterable[float]) -> float:
    """``math.fsum``, except where it raises: +inf with -inf gives NaN and an overflow ±inf, as a plain sum
    (and prometheus_client's own collector) would, instead of failing the whole scrape."""
    parts = list(parts)
    try:
        return math.fsum(parts)
    except (ValueError, OverflowError):
        return float(sum(parts))


def round_up_sum(parts: list[float]) -> float:
    """The exact sum of ``parts`` rounded towards +inf (``math.fsum`` rounds to nearest)."""
    total = exact_sum(parts)
    if math.isfinite(total) and exact_sum([*parts, -total]) > 0:
        return math.nextafter(total, math.inf)
    return total


def mergeable(path: str) -> bool:
    """Whether a dead process's file can be merged; a corrupt one is left in place (and logged).

    A file shorter than its 8-byte header belongs to a process that died while creating it: it holds no
    samples and is merged as empty (so it is deleted). prometheus_client truncates new files to 64 KiB
    before writing, so anything else unreadable is damage that compaction must not hide.
    """
    try:
        list(read_mmap_file(path))
    except (struct.error, RuntimeError) as exc:
        if Path(path).stat().st_size < 8:
            return True
        log.warning("jobpulse: not compacting unreadable multiprocess file %s: %s", path, exc)
        return False
    return True


def _values_of(path: str) -> list[tuple[str, float, float, int]]:
    try:
        return list(read_mmap_file(path))
    except struct.error:  # shorter than its header: a file whose process died while creating it
        return []


def merge_values(kind: str, mode: str, files: Iterable[str]) -> dict[str, tuple[float, float]]:
    """mmap key → (value, timestamp) of ``files`` of one kind merged into one file's worth.

    Counters, histograms (per-bucket counts, not cumulative, as the files store them) and summaries: the
    rounded-up exact sum; gauges: ``sum`` (exact sum), ``max``, ``min``, ``mostrecent`` (latest timestamp).
    """
    parts: dict[str, list[float]] = defaultdict(list)
    latest: dict[str, tuple[float, float]] = {}
    for path in files:
        for key, value, timestamp, _ in _values_of(path):
            if kind == "gauge" and mode == "mostrecent":
                current = latest.get(key)
                if current is None or timestamp > current[1]:
                    latest[key] = (value, timestamp)
            else:
                parts[key].append(value)
    if kind == "gauge" and mode == "mostrecent":
        return latest
    out: dict[str, tuple[float, float]] = {}
    for key, numbers in parts.items():
        if kind in _MONOTONIC:
            out[key] = (round_up_sum(numbers), 0.0)
        elif mode == "sum":
            out[key] = (exact_sum(numbers), 0.0)
        elif mode == "max":
            out[key] = (max(numbers), 0.0)
        elif mode == "min":
            out[key] = (min(numbers), 0.0)
        else:
            raise ValueError(f"cannot merge {kind} files in mode {mode!r}")
    return out


def write_db(path: Path, entries: Mapping[str, tuple[float, float]]) -> None:
    """Write a prometheus_client mmap file with ``entries`` (key → value, timestamp), fsynced."""
    write_mmap_file(path, entries)
