"""Run jobpulse's core benchmarks; print the tables, or with ``--write`` refresh their docs sections.

.venv/bin/python benchmarks/run_all.py            # print tables
.venv/bin/python benchmarks/run_all.py --write    # also refresh their sections of docs/benchmarks.md (~5 min)
.venv/bin/python benchmarks/run_all.py --quick    # smoke run: fewer, shorter rounds (noisier)

The page docs/benchmarks.md is shared: every benchmark owns the part between its
``<!-- name: begin -->`` / ``<!-- name: end -->`` markers. ``--write`` replaces (or adds) the ``run_all``
block under the title and one section per module in ``MODULES``, and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import bench_exposition
import bench_labels
import bench_tracker
from _harness import (
    DOC,
    Section,
    command,
    competing_cpu,
    competing_share,
    fmt_ns,
    machine,
    machine_markdown,
    marker,
    render_markdown,
    render_text,
    write_section,
)

MODULES = (bench_tracker, bench_labels, bench_exposition)


def summary(sections: dict[str, Section]) -> list[str]:
    """One line per benchmark: the ratio that answers its question."""
    tracker = {r.name: r for r in sections["tracker"].results[0]}
    labels = sections["labels"].results[0]
    expo = sections["exposition"]
    bound = next(r for r in tracker.values() if r.baseline)
    kw = tracker["tracker: enqueue(id) → start() → succeed()"]
    pos = tracker["tracker: enqueue(id, scenario, backend) positional"]
    prom = expo.results[expo.captions.index("2,000 histogram children, OpenMetrics, gzip, every child changed")]
    latency = {row[0]: row for row in expo.extra_tables[1][2]}
    stock_p99 = latency["during a scrape by prometheus_client make_asgi_app"][3]
    ours_p99 = latency["during a scrape by jobpulse MetricsApp"][3]
    return [
        "| question | answer |",
        "| --- | --- |",
        f"| job lifecycle through the tracker vs. hand-written pre-bound children (target ≤ "
        f"{bench_tracker.TARGET}×) | {kw.ratio:.2f}× by name, {pos.ratio:.2f}× positional "
        f"({kw.ns_per_op:,.0f} / {pos.ns_per_op:,.0f} vs. {bound.ns_per_op:,.0f} ns) |",
        f"| `Instrument.labels(**kw)` + inc vs. `Counter.labels(**kw)` + inc | {labels[2].ratio:.2f}× "
        f"(`Instrument.child(tuple)`: {labels[3].ratio:.2f}×) |",
        f"| Prometheus-like scrape (OpenMetrics, gzip) of 2,000 changed histogram children, MetricsApp vs. "
        f"`make_asgi_app` (target ≤ {bench_exposition.TARGET}×) | {prom[2].ratio:.2f}× the CPU "
        f"({fmt_ns(prom[2].ns_per_op)} vs. {fmt_ns(prom[0].ns_per_op)}); p99 of a request during a scrape "
        f"{ours_p99} vs. {stock_p99} |",
    ]


def busy_warning() -> list[str]:
    share = competing_share()
    if share is None or share < 0.15:
        return []
    return [
        f"**Other work competed for the CPU during this run** ({competing_cpu()} of the machine's CPU time "
        "went to other processes): absolute times are inflated and the spread is wider; the ratios, from "
        "interleaved rounds, are the numbers to read.",
        "",
    ]


def header(sections: dict[str, Section], cmd: str, started: dt.datetime, seconds: float) -> str:
    """The page's opening block: what the benchmarks are, how to read them, this run, the summary."""
    names = ", ".join(f"`{marker(s)}`" for s in sections.values())
    lines = [
        "Every hot path has a benchmark under `benchmarks/` that compares it, side by side and in one run, "
        "with the baseline a user would otherwise write. Benchmarks report numbers; they are not timed "
        "tests and assert nothing. Each section of this page sits between `<!-- name: begin -->` and "
        "`<!-- name: end -->` markers and is refreshed by its benchmark: rerun rather than edit the "
        f"numbers. `{cmd}` refreshes this block and the {names} sections.",
        "",
        "How to read the tables made with `benchmarks/_harness.py`: each variant is calibrated so that one "
        "batch takes about 40 ms, then all variants of a table run one batch each per round, in rotating "
        "order, for 9 rounds (the garbage collector is off inside a batch, as with `timeit`). *time/op* is "
        "the median over rounds, *fastest–slowest round* shows the spread, and the ratio is to the row "
        "marked baseline (lower is faster). Ratios from one run are comparable; absolute times depend on "
        "the machine and on what else it is doing.",
        "",
        f"Last run of `run_all.py`: {started:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s. Command: `{cmd}`.",
        "",
        machine_markdown(),
        "",
        *busy_warning(),
        "**Summary of the core benchmarks**",
        "",
        *summary(sections),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run jobpulse's core benchmarks.")
    parser.add_argument("--write", action="store_true", help="refresh their sections of docs/benchmarks.md")
    parser.add_argument("--markdown", action="store_true", help="print the Markdown sections instead of tables")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (smoke run; noisier)")
    args = parser.parse_args()
    cmd = command()
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    sections: dict[str, Section] = {}
    for module in MODULES:
        section = module.run(args.quick)
        section.command = cmd
        sections[section.key] = section
        if not args.markdown:
            print(render_text(section), flush=True)
    seconds = time.perf_counter() - t0
    top = header(sections, cmd, started, seconds)
    bodies = {marker(s): render_markdown(s, level=2, with_machine=False) for s in sections.values()}
    if args.markdown:
        print(top + "\n\n" + "\n".join(bodies.values()))
    else:
        print("; ".join(f"{k} {v}" for k, v in machine().items()))
        print(f"Command: {cmd} ({seconds:.0f} s)")
    if args.write:
        write_section("run_all", top, first=True)
        for name, body in bodies.items():
            write_section(name, body)
        print(f"wrote the run_all, {', '.join(bodies)} sections of {DOC}")


if __name__ == "__main__":
    main()
