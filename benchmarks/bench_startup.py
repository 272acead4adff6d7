"""Process start-up with and without cached bytecode (`jobpulse --help`, a pytest collection), and the suite's GOGC.

`make test` installs packages with their bytecode (`UV_COMPILE_BYTECODE=1`), compiles the project's modules
before pytest (`make bytecode`) and lets pytest keep its assertion-rewritten test modules (`PYTHONDONTWRITEBYTECODE=`
for the pytest run). Without that, on a machine that sets `PYTHONDONTWRITEBYTECODE=1` (as CI machines do) and with
uv's default of no bytecode, every Python process compiles every module it imports again: each pytest worker, and
each `jobpulse`, app and worker process a test starts.

Both variants run the same command, interleaved round by round; "no cached bytecode" points `PYTHONPYCACHEPREFIX`
at an empty directory with `PYTHONDONTWRITEBYTECODE=1`, so nothing cached is found and nothing is written. That hides
the standard library's bytecode too, which a machine normally has: the baseline is an upper bound (with the standard
library compiled and nothing else, `jobpulse --help` took 0.83 s and a collection 5 s on this machine). Times are the
median over rounds of wall time and of the child's CPU time (user + system). The measured commands run as child
processes, so the machine line counts them as "other processes".

The suite runs promtool, Prometheus and Alertmanager with `GOGC=400` (`tests/conftest.py`, unless set): Go collects
garbage four times less often. One shard of the platform example's promtool tests runs with Go's default
(`GOGC=100`) and with `GOGC=400`, interleaved the same way.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import command, machine_markdown, write_section

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = {
    "`jobpulse --help`": [str(BIN / "jobpulse"), "--help"],
    "`pytest --collect-only` (the whole suite)": [
        *(str(BIN / "pytest"), "--collect-only", "-q", "-p", "no:cacheprovider"),
    ],
}
GOGC_COMMANDS = {
    "`jobpulse test examples/platform/jobpulse.yaml --shard 1/3`": [
        *(str(BIN / "jobpulse"), "test", "examples/platform/jobpulse.yaml", "--shard", "1/3"),
    ],
}


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(
    commands: dict[str, list[str]], variants: dict[str, dict[str, str]], baseline: str, rounds: int
) -> list[list[str]]:
    """Each command under each variant's environment, interleaved round by round: a row per command and variant."""
    rows = []
    for label, argv in commands.items():
        _run(argv, variants[baseline])  # warm-up: writes whatever cache is missing
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for index in range(rounds):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in order:
                times[name].append(_run(argv, variants[name]))
        base_cpu = statistics.median(cpu for _, cpu in times[baseline])
        for name in variants:
            wall = statistics.median(w for w, _ in times[name])
            cpu = statistics.median(c for _, c in times[name])
            ratio = "baseline" if name == baseline else f"{cpu / base_cpu:.2f}×"
            rows.append([label, name, f"{wall:.2f} s", f"{cpu:.2f} s", ratio])
    return rows


def run(rounds: int) -> list[list[str]]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    with tempfile.TemporaryDirectory(prefix="jobpulse-no-pyc-") as empty:
        variants = {
            "cached bytecode": base,
            "no cached bytecode": {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty},
        }
        return compare(COMMANDS, variants, "no cached bytecode", rounds)


def run_gogc(rounds: int) -> list[list[str]]:
    base = {k: v for k, v in os.environ.items() if k != "GOGC"}
    variants = {"GOGC=400 (the suite's)": {**base, "GOGC": "400"}, "GOGC=100 (Go's default)": {**base, "GOGC": "100"}}
    return compare(GOGC_COMMANDS, variants, "GOGC=100 (Go's default)", rounds)


def markdown(rows: list[list[str]], rounds: int, *, title: str, text: list[str]) -> str:
    lines = [
        f"## {title}",
        "",
        " ".join(" ".join(p.split()) for p in text),
        "",
        "| command | variant | wall (median) | CPU (median) | CPU ratio |",
        "| --- | --- | --- | --- | --- |",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        f"{rounds} rounds. {machine_markdown()}",
        "",
        f"Command: `{command()}`.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="replace or append the section in docs/benchmarks.md")
    args = parser.parse_args()
    doc = (__doc__ or "").strip().split("\n\n")
    sections = {
        "bench_startup": markdown(
            run(args.rounds), args.rounds, title="Start-up: cached bytecode vs. none", text=doc[1:-1]
        ),
        "bench_gogc": markdown(
            run_gogc(args.rounds),
            args.rounds,
            title="The suite's Go binaries: GOGC=400 vs. Go's default",
            text=doc[-1:],
        ),
    }
    for name, section in sections.items():
        if args.write:
            write_section(name, section)
        print(section)


if __name__ == "__main__":
    main()
