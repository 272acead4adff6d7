"""Multi-process mode: real prometheus_client mmap files, compaction, and the host's one /metrics.

Worker processes are real (forked by a parent that reaps them like gunicorn's arbiter) or, for thousands of
restarts, their files are written with prometheus_client's own ``MmapedDict`` under fake (dead) pids.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector as StockCollector

from jobpulse.runtime import multiprocess as mp
from jobpulse.spec.load import load_spec_text
from jobpulse.verify.servers import wait_for

SPEC = """
version: jobpulse/v1
service: {name: mp}
metrics:
  - name: tasks_total
    type: counter
    help: Tasks finished.
    labels: {outcome: {values: [ok, failed]}}
  - name: task_seconds
    type: histogram
    unit: seconds
    help: Task run time.
    buckets: [0.1, 1, 10]
  - name: tasks_in_flight
    type: gauge
    help: Tasks running.
  - name: tasks_waiting
    type: gauge
    help: Tasks waiting.
  - name: cache_entries
    type: gauge
    help: Cache entries.
jobs:
  - name: task
    outcomes: {success: ok, failure: failed}
    metrics: {completed: tasks_total, duration: task_seconds, in_flight: tasks_in_flight, queue_depth: tasks_waiting}
"""

FAKE_PID = 4_000_000_000  # above any pid_max: never alive


def scrape(directory: Path) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], mp.MultiprocessCollector]:
    registry, collector = mp.multiprocess_registry(directory)
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out, collector


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def stable(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[object, float]:
    """Samples without the ones a compaction changes on purpose (live gauges of the dead, the file count)."""
    return {k: v for k, v in samples.items() if k[0] not in ("g_livesum", "jobpulse_multiprocess_files")}


def write_worker(directory: Path, pid: int, *, ok: float = 1, seconds: float = 0.5, in_flight: float = 1) -> None:
    """The files one worker leaves behind, written with prometheus_client's own mmap format."""
    counter = MmapedDict(str(directory / f"counter_{pid}.db"))
    counter.write_value(mmap_key("tasks", "tasks_total", ["outcome"], ["ok"], "Tasks finished."), ok, 0)
    counter.close()
    hist = MmapedDict(str(directory / f"histogram_{pid}.db"))
    hist.write_value(mmap_key("task_seconds", "task_seconds_bucket", ["le"], ["1.0"], "Task run time."), 1, 0)
    hist.write_value(mmap_key("task_seconds", "task_seconds_sum", [], [], "Task run time."), seconds, 0)
    hist.close()
    for mode, val in (("livesum", in_flight), ("sum", 1.0), ("max", float(pid % 1000)), ("all", 7.0)):
        gauge = MmapedDict(str(directory / f"gauge_{mode}_{pid}.db"))
        gauge.write_value(mmap_key(f"g_{mode}", f"g_{mode}", [], [], "A gauge."), val, 0)
        gauge.close()


# --- setup and gauge modes ---------------------------------------------------------------------------------


def test_gauge_modes_follow_job_roles_and_overrides() -> None:
    spec = load_spec_text(SPEC)
    assert mp.gauge_modes(spec) == {"tasks_in_flight": "livesum", "tasks_waiting": "sum", "cache_entries": "livemax"}
    assert mp.gauge_modes(spec, {"cache_entries": "livesum", "nope": "max"})["cache_entries"] == "livesum"


def test_money_gauges_of_the_llm_section_are_summed() -> None:
    """Seed 002 counts cost up on a gauge (luneo_openai_cost_cents): per process it is a running total, so the
    host's value is the sum over processes, dead ones included."""
    text = (
        SPEC
        + """
  - name: cost_cents
    type: gauge
    unit: cents
    help: Money spent.
llm:
  metrics: {cost: cost_cents}
"""
    )
    text = text.replace("jobs:\n", "").replace(
        "  - name: task\n    outcomes: {success: ok, failure: failed}\n    metrics: {completed: tasks_total, "
        "duration: task_seconds, in_flight: tasks_in_flight, queue_depth: tasks_waiting}\n",
        "",
    )
    modes = mp.gauge_modes(load_spec_text(text))
    assert modes["cost_cents"] == "sum"
    assert modes["tasks_in_flight"] == "livemax"  # no job lifecycle in this spec


def test_setup_rejects_unknown_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mp.ENV, raising=False)
    with pytest.raises(ValueError, match="unknown multiprocess mode"):
        mp.setup_multiprocess(tmp_path, modes={"x": "average"})
    with pytest.raises(ValueError, match="give a directory"):
        mp.setup_multiprocess()


PARENT = r"""
import os, sys
from jobpulse.runtime.multiprocess import setup_multiprocess, mark_process_dead
directory, spec_file, workers, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
setup_multiprocess(directory)
from jobpulse.runtime.metrics import Telemetry
from jobpulse.spec.load import load_spec
telemetry = Telemetry(load_spec(spec_file), registry=None)
task = telemetry.job("task")
compactions = 0
for n in range(workers):
    pid = os.fork()
    if pid == 0:  # a worker: one task (two for odd workers, one of them failed), one cache size, then exit
        job = task.enqueue()
        job.start()
        job.succeed()
        if n % 2:
            job = task.enqueue()
            job.start()
            job.fail()
        telemetry["cache_entries"].set(n)
        os._exit(0)
    os.waitpid(pid, 0)
    result = mark_process_dead(pid, compact_after=every)  # gunicorn's child_exit
    compactions += bool(result and result.generation)
print(compactions)
"""


@pytest.mark.parametrize("every", [1, 25])
def test_forked_workers_compacted_on_exit(tmp_path: Path, every: int) -> None:
    """A parent forks 120 short-lived workers and reaps them like gunicorn's arbiter; compaction keeps up."""
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC)
    directory = tmp_path / "mp"
    workers = 120
    out = subprocess.run(
        [sys.executable, "-c", PARENT, str(directory), str(spec_file), str(workers), str(every)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    # a dead worker leaves 3 files to merge (counter, histogram, queue-depth gauge; its live gauges are dropped)
    assert int(out.stdout) == workers // math.ceil(every / 3)
    samples, collector = scrape(directory)
    assert value(samples, "tasks_total", outcome="ok") == workers
    assert value(samples, "tasks_total", outcome="failed") == workers // 2
    assert value(samples, "task_seconds_count") == workers + workers // 2
    assert value(samples, "tasks_in_flight") == 0  # livesum: dead workers run nothing
    assert value(samples, "tasks_waiting") == 0  # sum: every enqueue was started
    assert value(samples, "cache_entries") == 0  # livemax: no live worker
    # left: one compacted file per merged kind, the last workers' files if below the threshold, and the files of
    # the parent (unlabelled metrics are created with the Telemetry); it has exited too, so the next compaction
    # takes its files as well
    names = sorted(p.name for p in directory.glob("*.db"))
    owners = {n.rsplit("_", 1)[1] for n in names if "jobpulse-compacted-" not in n}
    assert 1 <= len(owners) <= 1 + math.ceil(every / 3), names  # the parent + workers below the threshold
    assert collector.last_files == len(names)
    mp.compact(directory)
    after, collector = scrape(directory)
    # the same values; the parent's live gauges (0 anyway) went with it
    dropped = {("cache_entries", ()), ("tasks_in_flight", ()), ("jobpulse_multiprocess_files", ())}
    assert {k: v for k, v in after.items() if k not in dropped} == {
        k: v for k, v in samples.items() if k not in dropped
    }
    assert ("tasks_in_flight", ()) not in after
    names = sorted(p.name for p in directory.glob("*.db"))
    assert all("jobpulse-compacted-" in n for n in names), names
    assert collector.last_files == len(names) == 3  # counter, histogram, gauge_sum (queue depth)


PROCESS = r"""
import os, sys
directory, spec_file, role = sys.argv[1], sys.argv[2], sys.argv[3]
if role == "owner":  # $PROMETHEUS_MULTIPROC_DIR was set before prometheus_client was imported: its own value class
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == directory
from jobpulse.runtime.multiprocess import setup_multiprocess
setup_multiprocess(directory)
from jobpulse.runtime.metrics import Telemetry
from jobpulse.spec.load import load_spec
telemetry = Telemetry(load_spec(spec_file), registry=None)
if role == "owner":
    telemetry["cache_entries"].set(-3)
    telemetry["tasks_in_flight"].inc()
sys.stdin.read()  # stay alive (live gauges) until the test has scraped
"""


def test_a_process_exports_only_the_gauges_it_sets(tmp_path: Path) -> None:
    """Issue 17: a gauge a process creates but never sets is not exported by it. Both processes load the whole spec;
    only the owner sets cache_entries (livemax), to -3: a bystander's untouched 0 would win the max (as
    render_pipeline's workers' ``jobpulse_redis_up 0`` made ``min(jobpulse_redis_up)`` say Redis was down). Gauges
    merged as a sum (in flight, queue depth) are still written at creation: a 0 changes no sum, and the series is
    there before the first job."""
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC)
    directory = tmp_path / "mp"
    directory.mkdir()
    env = {**os.environ, mp.ENV: str(directory)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, str(directory), str(spec_file), role],
            stdin=subprocess.PIPE,
            env=env if role == "owner" else {k: v for k, v in os.environ.items() if k != mp.ENV},
        )
        for role in ("owner", "bystander")
    ]
    try:
        pids = {str(p.pid) for p in processes}
        wait_for(
            lambda: {f.name.rsplit("_", 1)[1].removesuffix(".db") for f in directory.iterdir()} >= pids,
            timeout=60,
        )
        wait_for(lambda: value(scrape(directory)[0], "tasks_in_flight") == 1, timeout=30)
        samples, _ = scrape(directory)
        assert ("cache_entries", ()) in samples and value(samples, "cache_entries") == -3
        assert value(samples, "tasks_in_flight") == 1  # livesum: the owner's 1 plus the bystander's 0
        assert ("tasks_waiting", ()) in samples  # sum: written by both at creation
        owner, bystander = processes
        assert (directory / f"gauge_livemax_{owner.pid}.db").exists()
        assert not (directory / f"gauge_livemax_{bystander.pid}.db").exists()
        assert (directory / f"gauge_livesum_{bystander.pid}.db").exists()
    finally:
        for process in processes:
            process.communicate(b"", timeout=30)
    assert [p.returncode for p in processes] == [0, 0]


def test_live_gauges_stay_until_the_process_dies(tmp_path: Path) -> None:
    write_worker(tmp_path, FAKE_PID)
    own = os.getpid()
    write_worker(tmp_path, own, in_flight=2)
    samples, _ = scrape(tmp_path)
    assert value(samples, "g_livesum") == 3
    result = mp.compact(tmp_path)
    assert result.dead_pids == {FAKE_PID}
    assert result.dropped_files == 1 and result.kept_files == 1  # livesum dropped, "all" kept as it is
    samples, _ = scrape(tmp_path)
    assert value(samples, "g_livesum") == 2  # only the live (own) process's in-flight
    assert value(samples, "g_sum") == 2  # sum keeps the dead process's contribution
    assert value(samples, "g_max") == max(FAKE_PID % 1000, own % 1000)
    assert value(samples, "g_all", pid=str(FAKE_PID)) == 7  # "all" keeps one series per process, as stock does
    assert value(samples, "tasks_total", outcome="ok") == 2
    assert (tmp_path / f"gauge_all_{FAKE_PID}.db").exists()


def test_reader_agrees_with_prometheus_client(tmp_path: Path) -> None:
    """On the same files (every kind, every merged gauge mode, integer values), jobpulse's reader produces
    exactly prometheus_client's samples."""
    for n in range(6):
        write_worker(tmp_path, FAKE_PID + n, ok=n + 1, seconds=n, in_flight=n)
        for mode in ("min", "liveall", "livemax"):
            g = MmapedDict(str(tmp_path / f"gauge_{mode}_{FAKE_PID + n}.db"))
            g.write_value(mmap_key(f"g_{mode}", f"g_{mode}", ["q"], ["a"], "A gauge."), float(10 - n), 0)
            g.close()
    ours, _ = scrape(tmp_path)
    stock = CollectorRegistry()
    StockCollector(stock, str(tmp_path))
    theirs = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in stock.collect() for s in m.samples}
    ours.pop(("jobpulse_multiprocess_files", ()))
    assert ours == theirs
    assert len(ours) > 20


def test_gunicorn_and_celery_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mp.ENV, str(tmp_path))
    write_worker(tmp_path, FAKE_PID)
    write_worker(tmp_path, FAKE_PID + 1)
    mp.gunicorn_child_exit(None, SimpleNamespace(pid=FAKE_PID))
    assert not list(tmp_path.glob(f"*_{FAKE_PID}.db"))[1:]  # only its "all" gauge file is left
    assert not (tmp_path / f"counter_{FAKE_PID + 1}.db").exists()  # a dead neighbour is compacted too
    # Celery's worker_process_shutdown runs in the exiting child: its live gauges go, its other files stay
    write_worker(tmp_path, os.getpid())
    mp.celery_worker_process_shutdown(pid=None, exitcode=0)
    assert not (tmp_path / f"gauge_livesum_{os.getpid()}.db").exists()
    assert (tmp_path / f"counter_{os.getpid()}.db").exists()
    samples, _ = scrape(tmp_path)
    assert value(samples, "tasks_total", outcome="ok") == 3


def test_celery_worker_process_shutdown_signal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Celery's own signal dispatch: the exiting child drops its live gauges and keeps its counters."""
    from celery import signals

    monkeypatch.setenv(mp.ENV, str(tmp_path))
    write_worker(tmp_path, os.getpid())
    write_worker(tmp_path, FAKE_PID)
    mp.connect_celery()
    try:
        signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    finally:
        signals.worker_process_shutdown.disconnect(mp.celery_worker_process_shutdown)
    assert not (tmp_path / f"gauge_livesum_{os.getpid()}.db").exists()
    assert (tmp_path / f"counter_{os.getpid()}.db").exists()  # compacted later, once the pid is gone
    assert not (tmp_path / f"counter_{FAKE_PID}.db").exists()  # a dead neighbour is compacted now
    samples, _ = scrape(tmp_path)
    assert value(samples, "tasks_total", outcome="ok") == 2


def test_hook_errors_never_raise(tmp_path: Path) -> None:
    missing = tmp_path / "not-a-directory"
    missing.write_text("x")
    assert mp.mark_process_dead(FAKE_PID, missing) is None


# --- thousands of restarts -----------------------------------------------------------------------------------


def test_thousands_of_restarts_scrape_stays_flat_and_counters_monotonic(tmp_path: Path) -> None:
    """1,000 workers die in rounds of 100; with compaction after every round no counter ever goes down, and
    only gauge "all" files (one per process by definition) accumulate — without compaction every file does."""
    compacted_dir = tmp_path / "compacted"
    plain_dir = tmp_path / "plain"
    compacted_dir.mkdir()
    plain_dir.mkdir()
    previous = 0.0
    files_read: list[int] = []
    series: list[int] = []
    plain_files: list[int] = []
    pid = FAKE_PID
    for round_ in range(10):
        for _ in range(100):
            pid += 1
            write_worker(compacted_dir, pid, ok=3, seconds=0.1)
            write_worker(plain_dir, pid, ok=3, seconds=0.1)
        mp.compact(compacted_dir)
        samples, collector = scrape(compacted_dir)
        total = value(samples, "tasks_total", outcome="ok")
        assert total == 3 * 100 * (round_ + 1)
        assert total >= previous
        previous = total
        files_read.append(collector.last_files)
        series.append(collector.last_series)
        if round_ in (0, 9):
            _, plain = scrape(plain_dir)
            plain_files.append(plain.last_files)
    # "all"-mode gauges keep one file per dead pid (their pid label is the file name); the rest is flat
    all_files = [n * 100 for n in range(1, 11)]
    flat = [f - a for f, a in zip(files_read, all_files, strict=True)]
    assert len(set(flat)) == 1 and flat[0] == 4, flat  # counter, histogram, gauge_sum, gauge_max compacted
    assert plain_files == [100 * 6, 1000 * 6]  # without compaction: every file of every worker
    samples, _ = scrape(compacted_dir)
    assert math.isclose(value(samples, "task_seconds_sum"), 1000 * 0.1)
    assert value(samples, "task_seconds_bucket", le="1.0") == 1000
    assert value(samples, "g_sum") == 1000


def test_thousands_of_restarts_without_all_mode_gauges(tmp_path: Path) -> None:
    """3,000 worker restarts with what jobpulse's own Telemetry produces (no "all" gauges): the files read and
    the series produced by each scrape are flat, and the counters exact."""
    files_read: list[int] = []
    series: list[int] = []
    pid = FAKE_PID
    for _ in range(30):
        for _ in range(100):
            pid += 1
            write_worker(tmp_path, pid)
            (tmp_path / f"gauge_all_{pid}.db").unlink()
        mp.compact(tmp_path)
        _, collector = scrape(tmp_path)
        files_read.append(collector.last_files)
        series.append(collector.last_series)
    assert set(files_read) == {4}
    assert len(set(series)) == 1
    samples, _ = scrape(tmp_path)
    assert value(samples, "tasks_total", outcome="ok") == 3000


# --- crash safety and races -----------------------------------------------------------------------------------


@pytest.mark.parametrize("crash", ["journal", "renames"])
def test_crash_between_journal_and_swap_never_double_counts(tmp_path: Path, crash: str) -> None:
    """A compactor dies after journaling the swap, or after renaming the compacted files in but before deleting
    the merged ones: readers still see every sample once, and the next compaction finishes the swap."""
    for n in range(10):
        write_worker(tmp_path, FAKE_PID + n)
    mp.compact(tmp_path)  # generation 1 exists
    for n in range(10, 20):
        write_worker(tmp_path, FAKE_PID + n)
    before, _ = scrape(tmp_path)
    assert value(before, "tasks_total", outcome="ok") == 20
    result = mp.compact(tmp_path, _crash=crash)
    assert result.generation == 2
    assert (tmp_path / mp.JOURNAL).exists()
    assert (tmp_path / f"counter_{FAKE_PID + 10}.db").exists()  # merged, not deleted yet
    naive = CollectorRegistry()
    StockCollector(naive, str(tmp_path))
    naive_total = sum(s.value for m in naive.collect() for s in m.samples if s.name == "tasks_total")
    # prometheus_client's own collector (no journal) double counts after the renames; jobpulse's never does
    assert naive_total == (40 if crash == "renames" else 20)
    during, _ = scrape(tmp_path)
    # equal, except that the dead workers' live gauges are gone (the compaction dropped them)
    assert stable(during) == stable(before)
    assert value(during, "g_livesum") == 0 < value(before, "g_livesum")
    mp.compact(tmp_path)  # rolls the swap forward, nothing new to merge
    assert not (tmp_path / mp.JOURNAL).exists()
    assert not (tmp_path / f"counter_{FAKE_PID + 10}.db").exists()
    after, _ = scrape(tmp_path)
    assert stable(after) == stable(before)
    assert {p.name for p in tmp_path.glob("*compacted*")} == {
        "counter_jobpulse-compacted-000002.db",
        "histogram_jobpulse-compacted-000002.db",
        "gauge_sum_jobpulse-compacted-000002.db",
        "gauge_max_jobpulse-compacted-000002.db",
    }


def test_crash_before_journal_leaves_nothing_visible(tmp_path: Path) -> None:
    write_worker(tmp_path, FAKE_PID)
    mp.write_db(tmp_path / "counter_jobpulse-compacted-000001.db.tmp", {"junk": (99.0, 0.0)})
    samples, _ = scrape(tmp_path)
    assert value(samples, "tasks_total", outcome="ok") == 1
    mp.compact(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
    samples, _ = scrape(tmp_path)
    assert value(samples, "tasks_total", outcome="ok") == 1


def test_empty_and_corrupt_files_of_dead_workers(tmp_path: Path, jobpulse_log: pytest.LogCaptureFixture) -> None:
    """A worker that died while creating its file leaves 0 bytes: merged as empty. A corrupt file is left in
    place, logged, and never stops the compaction of the others."""
    write_worker(tmp_path, FAKE_PID)
    (tmp_path / f"counter_{FAKE_PID + 1}.db").write_bytes(b"")
    corrupt = tmp_path / f"counter_{FAKE_PID + 2}.db"
    corrupt.write_bytes(struct.pack("ii", 4096, 0) + b"\xff" * 64)  # claims 4 KiB used, holds garbage
    mp.compact(tmp_path)
    assert not (tmp_path / f"counter_{FAKE_PID}.db").exists()
    assert not (tmp_path / f"counter_{FAKE_PID + 1}.db").exists()
    assert corrupt.exists()
    assert "not compacting unreadable" in jobpulse_log.text
    samples, _ = scrape(tmp_path)  # the scrape skips the corrupt file too
    assert value(samples, "tasks_total", outcome="ok") == 1


def test_compaction_racing_scrapes(tmp_path: Path) -> None:
    """Scrapes in one thread while workers die and are compacted in another: never an error, never a dip."""
    stop = threading.Event()
    seen: list[float] = []
    errors: list[BaseException] = []

    def scraper() -> None:
        try:
            while not stop.is_set():
                samples, _ = scrape(tmp_path)
                seen.append(value(samples, "tasks_total", outcome="ok"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        for n in range(300):
            write_worker(tmp_path, FAKE_PID + n, ok=0.1)
            if n % 7 == 0:
                mp.compact(tmp_path)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) > 5
    assert all(b >= a for a, b in itertools.pairwise(seen))


# --- the merge, property-based ---------------------------------------------------------------------------------

finite = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    workers=st.lists(st.tuples(finite, finite, st.floats(-1e6, 1e6), st.booleans()), min_size=1, max_size=12),
)
def test_merge_preserves_every_sample(
    tmp_path_factory: pytest.TempPathFactory, workers: list[tuple[float, float, float, bool]]
) -> None:
    """Compacting any subset of dead workers: counters never decrease and stay within float rounding of the
    exact total; sum/max/min gauges equal what prometheus_client's own collector reports for the same files."""
    directory = tmp_path_factory.mktemp("merge")
    for n, (count, seconds, gauge, _) in enumerate(workers):
        write_worker(directory, FAKE_PID + n, ok=count, seconds=seconds)
        for mode in ("max", "sum"):
            g = MmapedDict(str(directory / f"gauge_{mode}_{FAKE_PID + n}.db"))
            g.write_value(mmap_key(f"g_{mode}", f"g_{mode}", [], [], "A gauge."), gauge, 0)
            g.close()
        m = MmapedDict(str(directory / f"gauge_min_{FAKE_PID + n}.db"))
        m.write_value(mmap_key("g_min", "g_min", [], [], "A gauge."), gauge, 0)
        m.close()
    before, _ = scrape(directory)
    stock = CollectorRegistry()
    StockCollector(stock, str(directory))
    stock_values = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in stock.collect() for s in m.samples}
    # compact in one or two steps, each with its own subset of the dead
    alive = {FAKE_PID + n for n, w in enumerate(workers) if w[3]}
    mp.compact(directory, is_alive=lambda pid: pid in alive)
    middle, _ = scrape(directory)
    mp.compact(directory, is_alive=lambda pid: False)
    after, _ = scrape(directory)
    exact = math.fsum(w[0] for w in workers)
    for name, labels in (("tasks_total", {"outcome": "ok"}), ("task_seconds_sum", {})):
        a, b, c = value(before, name, **labels), value(middle, name, **labels), value(after, name, **labels)
        assert a <= b <= c
        assert math.isclose(c, a, rel_tol=1e-12, abs_tol=1e-300)
    assert value(before, "tasks_total", outcome="ok") == exact
    for key in (("g_max", ()), ("g_min", ())):
        assert after[key] == stock_values[key] == before[key]
    assert math.isclose(after["g_sum", ()], stock_values["g_sum", ()], rel_tol=1e-9, abs_tol=1e-6)
    assert value(after, "task_seconds_count") == len(workers) == stock_values["task_seconds_count", ()]
    assert "g_livesum" not in {k[0] for k in after}


def test_round_up_sum_is_never_below_the_exact_sum() -> None:
    parts = [0.1, 0.2, 0.3]
    total = mp.round_up_sum(parts)
    from fractions import Fraction

    assert Fraction(total) >= sum(Fraction(p) for p in parts)
    assert mp.round_up_sum([1.0, 2.0]) == 3.0


# --- the host's /metrics ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_metrics_app_serves_the_merged_view(tmp_path: Path) -> None:
    for n in range(5):
        write_worker(tmp_path, FAKE_PID + n)
    mp.compact(tmp_path)
    write_worker(tmp_path, os.getpid())
    app = mp.metrics_app(tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'tasks_total{outcome="ok"} 6.0' in response.text
    # 4 compacted, 5 kept gauge "all" files of the dead, 6 files of the live process
    assert "jobpulse_multiprocess_files 15.0" in response.text


@pytest.mark.anyio
async def test_metrics_app_compacts_in_the_background(tmp_path: Path) -> None:
    """Without an exit hook (uvicorn --workers): a scrape that reads too many files starts a compaction in a
    background thread; the next scrapes read few files and report the same counters."""
    for n in range(60):
        write_worker(tmp_path, FAKE_PID + n)  # 6 files each
    app = mp.metrics_app(tmp_path, compact_above=100)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = (await client.get("/metrics")).text
        assert "jobpulse_multiprocess_files 360.0" in first
        wait_for(lambda: len(list(tmp_path.glob("*.db"))) < 100, timeout=20)
        second = (await client.get("/metrics")).text
    assert 'tasks_total{outcome="ok"} 60.0' in first
    assert 'tasks_total{outcome="ok"} 60.0' in second
    assert "jobpulse_multiprocess_files 64.0" in second  # 4 compacted + the 60 kept gauge "all" files


def test_no_background_compaction_below_the_threshold(tmp_path: Path) -> None:
    for n in range(10):
        write_worker(tmp_path, FAKE_PID + n)
    registry, collector = mp.multiprocess_registry(tmp_path, compact_above=100)
    list(registry.collect())
    assert collector.compactions == 0 and not collector._compacting
    assert len(list(tmp_path.glob("*.db"))) == 60
