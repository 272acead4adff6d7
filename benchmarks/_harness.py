"""A tiny side-by-side benchmark harness: interleaved rounds, median per-op time, ratio to a baseline.

Each variant is set up once (its own fresh registry), calibrated timeit-style so one batch takes about
``batch_seconds``, then measured over ``rounds`` rounds in which every variant runs one batch, the order
rotating each round — so drift of the machine (frequency scaling, a noisy neighbour) hits all variants
alike. The reported time is the median over rounds of each batch's time per operation; the garbage
collector is disabled during a batch, as ``timeit`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

# A bench() callable runs the operation `number` times and returns the elapsed nanoseconds.
Bench = Callable[[int], int]


@dataclass
class Variant:
    """One contender. ``make()`` builds its state (fresh registry) and returns its ``bench(number)``."""

    name: str
    make: Callable[[], Bench]
    baseline: bool = False
    note: str = ""


@dataclass
class Result:
    name: str
    ns_per_op: float  # median over rounds
    low: float  # fastest round
    high: float  # slowest round
    number: int  # operations per batch
    rounds: int
    baseline: bool
    note: str
    ratio: float = 1.0


@dataclass
class Section:
    """One benchmark's outcome: its tables and a reading of them, printable as text or Markdown."""

    key: str
    title: str
    intro: str
    results: list[list[Result]] = field(default_factory=list)  # one table per scenario
    captions: list[str] = field(default_factory=list)
    extra_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    reading: str = ""
    command: str = ""


def loop_op(op: Callable[[], object]) -> Bench:
    """timeit-style: ``number`` calls of ``op`` in a tight loop, gc disabled, perf_counter_ns around it."""

    def bench(number: int) -> int:
        it = itertools.repeat(None, number)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for _ in it:
                op()
            return time.perf_counter_ns() - start
        finally:
            if gc_was_enabled:
                gc.enable()

    return bench


def loop_async(run: Callable[[Awaitable[Any]], Any], op: Callable[[], Awaitable[object]]) -> Bench:
    """Like ``loop_op`` for a coroutine function, timed inside ``run`` (e.g. one long-lived event loop)."""

    async def many(number: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(number):
            await op()
        return time.perf_counter_ns() - start

    def bench(number: int) -> int:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return int(run(many(number)))
        finally:
            if gc_was_enabled:
                gc.enable()

    return bench


def calibrate(bench: Bench, batch_seconds: float) -> int:
    """Smallest ``number`` in 1, 2, 5, 10, 20, 50, ... whose batch takes at least ``batch_seconds``."""
    target = batch_seconds * 1e9
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            number = int(mantissa * 10**exponent)
            if bench(number) >= target:
                return number
    raise AssertionError("unreachable")


def measure(variants: Sequence[Variant], *, rounds: int = 9, batch_seconds: float = 0.04) -> list[Result]:
    """Interleaved rounds of all variants; medians and ratios to the baseline variant."""
    benches = [v.make() for v in variants]
    numbers = []
    for bench in benches:
        bench(1)  # warm up: first children, first lookups, thread pools (calibrate() warms up the rest)
        numbers.append(calibrate(bench, batch_seconds))
    samples: list[list[float]] = [[] for _ in variants]
    for r in range(rounds):
        order = list(range(len(variants)))
        shift = r % len(order)
        for i in order[shift:] + order[:shift]:
            samples[i].append(benches[i](numbers[i]) / numbers[i])
    results = [
        Result(
            name=v.name,
            ns_per_op=statistics.median(s),
            low=min(s),
            high=max(s),
            number=n,
            rounds=rounds,
            baseline=v.baseline,
            note=v.note,
        )
        for v, s, n in zip(variants, samples, numbers, strict=True)
    ]
    base = next((r for r in results if r.baseline), results[0])
    for result in results:
        result.ratio = result.ns_per_op / base.ns_per_op
    return results


# -- machine and command ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    return {
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "CPU": cpu_model(),
        "Cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "prometheus_client": version("prometheus_client"),
        "load average at start": load_average(),
        "CPU used by other processes during the run": competing_cpu(),
    }


_LOAD_AT_IMPORT = os.getloadavg() if hasattr(os, "getloadavg") else None


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(monotonic seconds, busy CPU-seconds of the whole machine, CPU-seconds of this process)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    ticks = [int(v) for v in first[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    own = os.times()
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


_CPU_AT_IMPORT = _cpu_snapshot()


def competing_cpu() -> str:
    """Share of the machine's CPU time that other processes (or the hypervisor) took since the run began.

    Near 0 %: the benchmarks had the machine to themselves. High: other work competed with them, which
    inflates absolute times and the spread (interleaving keeps the ratios comparable).
    """
    now = _cpu_snapshot()
    if now is None or _CPU_AT_IMPORT is None:
        return "n/a"
    wall = now[0] - _CPU_AT_IMPORT[0]
    others = (now[1] - _CPU_AT_IMPORT[1]) - (now[2] - _CPU_AT_IMPORT[2])
    if wall <= 0:
        return "n/a"
    return f"{max(0.0, 100 * others / (wall * (os.cpu_count() or 1))):.0f} %"


def competing_share() -> float | None:
    """``competing_cpu()`` as a fraction, or None where it cannot be measured."""
    text = competing_cpu()
    return None if text == "n/a" else float(text.rstrip(" %")) / 100


def intro(doc: str | None) -> str:
    """A module docstring minus its first paragraph, as Markdown paragraphs."""
    if not doc:
        return ""
    paragraphs = doc.strip().split("\n\n")[1:]
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, text: str, *, doc: Path = DOC, first: bool = False) -> None:
    """Put ``text`` between ``<!-- name: begin -->`` and ``<!-- name: end -->`` in docs/benchmarks.md.

    An existing section of that name is replaced in place; a new one is appended (or, with ``first``,
    put right under the page title). Every other section of the page is left as it is.
    """
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    page = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if begin in page and end in page:
        before, rest = page.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        page = before + block + ("\n" + after if after else "")
    elif first:
        title, _, rest = page.partition("\n")
        page = f"{title}\n\n{block}\n{rest.lstrip(chr(10))}"
    else:
        page = page.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(page.rstrip("\n") + "\n", encoding="utf-8")


def load_average() -> str:
    """The 1-minute load average when the run started: above the core count, other work competed."""
    if _LOAD_AT_IMPORT is None:
        return "n/a"
    return f"{_LOAD_AT_IMPORT[0]:.2f}"


def command() -> str:
    """The command line that produced this run, with the interpreter relative to the working directory."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = exe.name
    argv = [sys.argv[0], *sys.argv[1:]]
    with contextlib.suppress(ValueError):
        argv[0] = str(Path(argv[0]).resolve().relative_to(Path.cwd()))
    line = shlex.join([shown, *argv])
    niceness = os.nice(0) if hasattr(os, "nice") else 0
    return f"nice -n {niceness} {line}" if niceness else line


# -- formatting ---------------------------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:,.1f} µs"
    return f"{ns:,.0f} ns"


def _result_rows(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "time/op (median)", "fastest–slowest round", "ratio to baseline"]
    rows = []
    for r in results:
        name = f"{r.name} (baseline)" if r.baseline else r.name
        rows.append([name, fmt_ns(r.ns_per_op), f"{fmt_ns(r.low)} – {fmt_ns(r.high)}", f"{r.ratio:.2f}×"])
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _tables(section: Section) -> list[tuple[str, list[str], list[list[str]]]]:
    tables = []
    for caption, results in zip(section.captions, section.results, strict=True):
        header, rows = _result_rows(results)
        tables.append((caption, header, rows))
    return tables + section.extra_tables


def _batch_line(section: Section) -> str:
    sizes = sorted({(r.rounds, r.number) for results in section.results for r in results})
    if not sizes:
        return ""
    rounds = sizes[0][0]
    numbers = ", ".join(f"{n:,}" for n in sorted({n for _, n in sizes}))
    return f"{rounds} interleaved rounds per variant; operations per batch: {numbers}."


def render_text(section: Section) -> str:
    out = [f"== {section.title} ==", section.intro, ""]
    for caption, header, rows in _tables(section):
        out += [caption, text_table(header, rows), ""]
    if section.reading:
        out += [section.reading, ""]
    return "\n".join(out)


def render_markdown(section: Section, *, level: int = 2, with_machine: bool = True) -> str:
    hashes = "#" * level
    out = [f"{hashes} {section.title}", "", section.intro, ""]
    for caption, header, rows in _tables(section):
        out += [f"**{caption}**", "", markdown_table(header, rows), ""]
    batch = _batch_line(section)
    if batch:
        out += [batch, ""]
    if section.reading:
        out += [section.reading, ""]
    out += [f"Command: `{section.command or command()}`", ""]
    if with_machine:
        out += [machine_markdown(), ""]
    return "\n".join(out)


def machine_markdown() -> str:
    return "Machine: " + "; ".join(f"{k} {v}" for k, v in machine().items()) + "."


def marker(section: Section) -> str:
    """The name of a section's markers in docs/benchmarks.md: ``bench_<key>``."""
    return section.key if section.key.startswith("bench_") else f"bench_{section.key}"


def main(run: Callable[[bool], Section]) -> None:
    """Command line of a single benchmark module: ``[--quick] [--markdown] [--write]``."""
    parser = argparse.ArgumentParser(description=run.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown section instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (smoke run; noisier)")
    parser.add_argument(
        "--write", action="store_true", help="replace (or append) this benchmark's section in docs/benchmarks.md"
    )
    args = parser.parse_args()
    section = run(args.quick)
    section.command = command()
    print(render_markdown(section) if args.markdown else render_text(section))
    if not args.markdown:
        print(machine_markdown())
        print(f"Command: {section.command}")
    if args.write:
        write_section(marker(section), render_markdown(section))
        print(f"wrote the {marker(section)} section of {DOC}")


def settings(quick: bool) -> dict[str, Any]:
    return {"rounds": 3, "batch_seconds": 0.01} if quick else {"rounds": 9, "batch_seconds": 0.04}
