"""prometheus_client's multi-process mode, set up by jobpulse, with compaction of dead workers' files.

In multi-process mode (gunicorn or uvicorn workers, Celery prefork children) every process writes its samples
to its own memory-mapped ``*.db`` files in one directory, and one ``/metrics`` per host merges them. Left alone,
that directory grows by a few files per worker restart and every scrape reads all of them — after thousands of
restarts a scrape takes seconds. Deleting dead workers' files would make their counters go backwards.
:func:`compact` merges the files of dead processes into one compacted file per kind instead:

* counters, histograms and summaries are summed (rounded *up* to the next float when the exact sum is not
  representable, so a scrape after a compaction is never lower than the one before);
* gauges follow their multi-process mode: ``live*`` modes are dropped (the process is gone, as
  ``mark_process_dead`` does), ``sum``/``max``/``min``/``mostrecent`` are merged the way the collector would
  merge them, and ``all`` keeps its per-process files (its ``pid`` label comes from the file name).

A compaction and a scrape never see each other half done: scrapes read under a shared ``flock`` and the
compactor swaps files under an exclusive one. A crash between writing the compacted file and deleting the
merged ones cannot double count: the swap is journaled first, readers apply the journal's view, and the next
compaction rolls it forward. See ``docs/multiprocess.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import struct
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from jobpulse.runtime._client_internals import (
    StockMultiProcessCollector,
    read_mmap_file,
    set_gauge_mode,
    stock_mark_process_dead,
    use_multiprocess_values,
    write_mmap_file,
)

if TYPE_CHECKING:
    from jobpulse.runtime.exposition import MetricsApp
    from jobpulse.spec.model import Spec

__all__ = [
    "GAUGE_MODES",
    "CompactionResult",
    "DbFile",
    "MultiprocessCollector",
    "celery_worker_process_shutdown",
    "compact",
    "connect_celery",
    "gauge_modes",
    "gunicorn_child_exit",
    "mark_process_dead",
    "metrics_app",
    "multiprocess_registry",
    "parse_name",
    "pid_alive",
    "round_up_sum",
    "setup_multiprocess",
    "visible_files",
    "write_db",
]

log = logging.getLogger("jobpulse.multiprocess")

ENV = "PROMETHEUS_MULTIPROC_DIR"
GAUGE_MODES = frozenset(
    ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")
)
#: Kinds whose compacted value is a sum that must never decrease (counters and what behaves like them).
_MONOTONIC = ("counter", "histogram", "summary")
_MERGED_GAUGES = ("sum", "max", "min", "mostrecent")
COMPACTED = "jobpulse-compacted-"
_COMPACTED_RE = re.compile(r"jobpulse-compacted-(\d+)\.db$")
_READ_LOCK = ".jobpulse-read.lock"
_COMPACT_LOCK = ".jobpulse-compact.lock"
JOURNAL = ".jobpulse-compaction.json"
#: Gauge mode per job role: in-flight attempts belong to the process running them (gone when it dies);
#: queue depth is incremented by producers and decremented by workers, so it must outlive both.
ROLE_MODES = {"in_flight": "livesum", "queue_depth": "sum"}
#: Mode of a gauge the spec says nothing about: one value per live process would add a ``pid`` label
#: (unbounded across restarts); the largest live value is right for values every process observes alike.
DEFAULT_GAUGE_MODE = "livemax"

_GO: Any = floatToGoString

_overrides: dict[str, str] = {}
_overrides_lock = threading.Lock()


# --- setup ---------------------------------------------------------------------------------------------------


def setup_multiprocess(
    directory: str | Path | None = None, *, modes: Mapping[str, str] | None = None, wipe: bool = False
) -> Path:
    """Switch prometheus_client to multi-process mode, writing to ``directory``; returns the directory.

    Call it once in the parent before workers start (gunicorn's ``on_starting``/config file, the Celery
    master) and *before* any metric is created: ``PROMETHEUS_MULTIPROC_DIR`` is set so children inherit it.
    ``directory`` defaults to ``$PROMETHEUS_MULTIPROC_DIR``. ``modes`` overrides gauge modes by metric name
    (see :func:`gauge_modes`). ``wipe=True`` deletes stale ``*.db`` files of an earlier run — only do that
    at a fresh start of the whole host, when no worker of the old run is alive.
    """
    for name, mode in (modes or {}).items():
        if mode not in GAUGE_MODES:
            raise ValueError(f"gauge {name}: unknown multiprocess mode {mode!r}; use one of {sorted(GAUGE_MODES)}")
    path = _directory(directory)
    path.mkdir(parents=True, exist_ok=True)
    if wipe:
        for stale in [*path.glob("*.db"), *path.glob("*.db.tmp")]:
            stale.unlink(missing_ok=True)
        (path / JOURNAL).unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    use_multiprocess_values()
    if modes:
        with _overrides_lock:
            _overrides.update(modes)
    return path


def gauge_modes(spec: Spec, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The multi-process mode of every gauge in the spec.

    ``livesum`` for a job's in-flight gauge, ``sum`` for its queue-depth gauge and for a gauge the ``llm``
    section counts money on, ``livemax`` otherwise; an override (``overrides`` or :func:`setup_multiprocess`'s
    ``modes``) wins.
    """
    modes: dict[str, str] = {}
    for metric in spec.metrics.values():
        if metric.type == "gauge":
            modes[metric.name] = DEFAULT_GAUGE_MODE
    for job in spec.jobs.values():
        for role, mode in ROLE_MODES.items():
            metric = getattr(job, role)
            if metric is not None:
                modes[metric.name] = mode
    if spec.llm is not None:  # money counted up on a gauge (seed 002's luneo_openai_cost_cents) is a running sum
        for role in ("cost", "cache_savings"):
            money = spec.llm.metrics.get(role)
            if money is not None and money.type == "gauge":
                modes[money.name] = "sum"
    with _overrides_lock:
        modes.update({k: v for k, v in _overrides.items() if k in modes})
    if overrides:
        modes.update({k: v for k, v in overrides.items() if k in modes})
    return modes


def gauge_mode(spec: Spec, name: str) -> str:
    """The multi-process mode of one gauge of the spec (what :class:`~jobpulse.runtime.metrics.Telemetry` uses)."""
    return gauge_modes(spec).get(name, DEFAULT_GAUGE_MODE)


def _directory(directory: str | Path | None) -> Path:
    raw = directory if directory is not None else os.environ.get(ENV)
    if not raw:
        raise ValueError(f"give a directory or set {ENV}")
    return Path(raw)


# --- file names ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbFile:
    """One ``*.db`` file: its kind (``counter``, ``gauge_livesum``, ...), owner (a pid or compacted) and path."""

    path: str
    kind: str  # counter | histogram | summary | gauge
    mode: str  # gauge mode, "" for the others
    owner: str  # the part after the kind: a pid, or jobpulse-compacted-<generation>

    @property
    def prefix(self) -> str:
        return f"{self.kind}_{self.mode}" if self.mode else self.kind

    @property
    def generation(self) -> int | None:
        match = _COMPACTED_RE.match(self.owner + ".db")
        return int(match.group(1)) if match else None

    @property
    def pid(self) -> int | None:
        return int(self.owner) if self.owner.isdigit() else None


def parse_name(path: str) -> DbFile | None:
    name = Path(path).name
    if not name.endswith(".db"):
        return None
    parts = name[:-3].split("_", 2)
    if parts[0] == "gauge" and len(parts) == 3:
        return DbFile(path, "gauge", parts[1], parts[2])
    if parts[0] != "gauge" and len(parts) >= 2:
        return DbFile(path, parts[0], "", "_".join(parts[1:]))
    return None


# --- locking and the journal -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path, kind: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_journal(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / JOURNAL).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a torn journal cannot exist (it is renamed in), but never crash a scrape
        log.warning("unreadable compaction journal in %s: %s", directory, exc)
        return None
    return data


def visible_files(directory: Path) -> list[str]:
    """The ``*.db`` files a reader must merge: the directory's, as a finished compaction would leave them.

    Call with the read lock held. If a compactor died between journaling a swap and finishing it, the journal
    says which files were merged (excluded here) and which compacted files replace them (included, from their
    temporary names if not renamed yet) — so a crash never double counts or loses a sample.
    """
    files = _db_files(directory)
    journal = _read_journal(directory)
    if journal is None:
        return files
    merged = {str(directory / name) for name in journal.get("delete", [])}
    present = set(files)
    out = [f for f in files if f not in merged]
    for tmp, final in journal.get("rename", {}).items():
        if str(directory / final) not in present and (directory / tmp).exists():
            out.append(str(directory / tmp))
    return out


def _db_files(directory: Path) -> list[str]:
    return [str(p) for p in directory.glob("*.db")]


def _roll_forward(directory: Path, *, crash_after_renames: bool = False) -> None:
    """Finish an interrupted swap (exclusive read lock held): rename compacted files in, delete merged ones."""
    journal = _read_journal(directory)
    if journal is None:
        return
    for tmp, final in journal.get("rename", {}).items():
        with contextlib.suppress(FileNotFoundError):
            (directory / tmp).replace(directory / final)
    if crash_after_renames:
        return
    for name in journal.get("delete", []):
        (directory / name).unlink(missing_ok=True)
    _fsync_dir(directory)
    (directory / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- merging ---------------------------------------------------------------------------------------------------


def round_up_sum(parts: list[float]) -> float:
    """The exact sum of ``parts`` rounded towards +inf (``math.fsum`` rounds to nearest)."""
    total = math.fsum(parts)
    if math.isfinite(total) and math.fsum([*parts, -total]) > 0:
        return math.nextafter(total, math.inf)
    return total


def _mergeable(path: str) -> bool:
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
            out[key] = (math.fsum(numbers), 0.0)
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


# --- compaction ----------------------------------------------------------------------------------------------


@dataclass
class CompactionResult:
    """What one :func:`compact` call did."""

    generation: int | None = None
    merged_files: int = 0
    dropped_files: int = 0  # live* gauge files of dead processes
    kept_files: int = 0  # gauge "all" files of dead processes (their pid label comes from the file name)
    dead_pids: set[int] = field(default_factory=set)
    compacted_files: list[str] = field(default_factory=list)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (pid namespace)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def compact(
    directory: str | Path | None = None,
    *,
    dead: Iterable[int] | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
    min_files: int = 1,
    _crash: str | None = None,
) -> CompactionResult:
    """Merge the ``*.db`` files of dead processes into one compacted file per kind; returns what it did.

    A process counts as dead when its pid is in ``dead`` or ``is_alive(pid)`` is false (``os.kill(pid, 0)``:
    the directory must belong to one host and one pid namespace, as prometheus_client requires anyway). The
    caller's own pid is never compacted. Nothing happens below ``min_files`` dead files.
    """
    path = _directory(directory)
    result = CompactionResult()
    own = os.getpid()
    dead_set = set(dead or ())
    with _flock(path / _COMPACT_LOCK, fcntl.LOCK_EX):
        if (path / JOURNAL).exists():
            with _flock(path / _READ_LOCK, fcntl.LOCK_EX):
                _roll_forward(path)
        else:  # compacted files written by a compactor that died before journaling them: never visible
            for stray in path.glob(f"*_{COMPACTED}*.db.tmp"):
                stray.unlink(missing_ok=True)
        files = [f for f in (parse_name(p) for p in _db_files(path)) if f is not None]
        generations = [g for g in (f.generation for f in files) if g is not None]
        by_prefix: dict[str, list[DbFile]] = defaultdict(list)
        drop: list[DbFile] = []
        for f in files:
            pid = f.pid
            if pid is None or pid == own or (pid not in dead_set and is_alive(pid)):
                continue
            result.dead_pids.add(pid)
            if f.kind == "gauge" and f.mode.startswith("live"):
                drop.append(f)
            elif f.kind == "gauge" and f.mode not in _MERGED_GAUGES:
                result.kept_files += 1
            else:
                by_prefix[f.prefix].append(f)
        candidates = sum(len(v) for v in by_prefix.values()) + len(drop)
        if candidates < min_files or candidates == 0:
            return result
        generation = max(generations, default=0) + 1
        renames: dict[str, str] = {}
        delete: list[str] = [Path(f.path).name for f in drop]
        for prefix, group in sorted(by_prefix.items()):
            previous = [f for f in files if f.prefix == prefix and f.generation is not None]
            group = [f for f in group if _mergeable(f.path)]
            sources = previous + group
            kind, _, mode = prefix.partition("_")
            entries = merge_values(kind, mode, [f.path for f in sources])
            final = f"{prefix}_{COMPACTED}{generation:06d}.db"
            # "<final>.tmp": invisible to the *.db glob, yet named so that a reader applying the journal
            # parses its kind and gauge mode from it like from the final name
            tmp = f"{final}.tmp"
            write_db(path / tmp, entries)
            renames[tmp] = final
            delete += [Path(f.path).name for f in sources]
            result.merged_files += len(group)
            result.compacted_files.append(final)
        result.dropped_files = len(drop)
        result.generation = generation
        _write_journal(path, {"generation": generation, "rename": renames, "delete": delete})
        if _crash == "journal":  # for tests: what a crash right after journaling leaves behind
            return result
        with _flock(path / _READ_LOCK, fcntl.LOCK_EX):
            _roll_forward(path, crash_after_renames=_crash == "renames")
    return result


def _write_journal(directory: Path, journal: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".journal.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w") as out:
        json.dump(journal, out)
        out.flush()
        os.fsync(out.fileno())
    Path(tmp).replace(directory / JOURNAL)
    _fsync_dir(directory)


# --- reading: one /metrics per host ------------------------------------------------------------------------------


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
        self.directory = _directory(path)
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
        with _flock(self.directory / _READ_LOCK, fcntl.LOCK_SH):
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
            samples.append(Sample(name, dict(labels), math.fsum(numbers)))
        for (name, labels), (value, _) in family.picked.items():
            samples.append(Sample(name, dict(labels), value))
        for without, by_bound in family.buckets.items():
            acc = 0.0
            base = dict(without)
            for bound in sorted(by_bound):
                acc += math.fsum(by_bound[bound])
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


# --- process-exit hooks --------------------------------------------------------------------------------------------


def mark_process_dead(
    pid: int, directory: str | Path | None = None, *, compact_after: int | None = 1, exiting_self: bool = False
) -> CompactionResult | None:
    """Bookkeeping when worker ``pid`` died: drop its ``live*`` gauges, then compact dead workers' files.

    ``compact_after``: compact once at least this many dead files are waiting (``None``: never here).
    ``exiting_self=True`` when a process reports its *own* exit (Celery's ``worker_process_shutdown``):
    its files are only compacted by a later call, once the pid is really gone. Never raises: errors are
    logged (instrumentation must not take the host down).
    """
    try:
        path = _directory(directory)
        stock_mark_process_dead(pid, str(path))
        if compact_after is None:
            return None
        dead = () if exiting_self else (pid,)
        return compact(path, dead=dead, min_files=compact_after)
    except Exception:
        log.exception("jobpulse: marking process %s dead in the multiprocess directory failed", pid)
        return None


def gunicorn_child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: ``child_exit = jobpulse.runtime.multiprocess.gunicorn_child_exit``."""
    mark_process_dead(int(worker.pid))


def celery_worker_process_shutdown(pid: int | None = None, exitcode: int | None = None, **_: Any) -> None:
    """Handler for Celery's ``worker_process_shutdown`` signal (sent in the exiting child)."""
    mark_process_dead(pid or os.getpid(), exiting_self=True)


def connect_celery() -> None:
    """Connect :func:`celery_worker_process_shutdown` to Celery's ``worker_process_shutdown`` signal."""
    from celery.signals import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        worker_process_shutdown,
    )

    worker_process_shutdown.connect(celery_worker_process_shutdown, weak=False)
