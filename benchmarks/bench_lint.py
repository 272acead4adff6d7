"""How long ``jobpulse lint`` takes on 1,000 alert rules against a 200-metric catalogue (target: under 2 s).

Side by side, on the same generated rule file: ``promtool check rules`` (Prometheus's own validator:
YAML, PromQL syntax, templates; no catalogue), jobpulse lint without a catalogue, and the parts of a
lint run (reading the YAML with positions, parsing the PromQL) so the table shows where the time goes.

.venv/bin/python benchmarks/bench_lint.py               # print the table
.venv/bin/python benchmarks/bench_lint.py --markdown    # print the docs/benchmarks.md section
.venv/bin/python benchmarks/bench_lint.py --write       # replace (or append) that section at the end of the page
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import promql_parser
import yaml

from jobpulse.lint.catalogue import load_catalogue
from jobpulse.lint.runner import lint_text
from jobpulse.lint.source import load_trees

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_lint: begin -->"
END = "<!-- bench_lint: end -->"
METRICS = 200
RULES = 1000
TARGET_SECONDS = 2.0


def catalogue_spec(rng: random.Random) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """A spec with 200 metrics (counters, gauges, histograms), each with two or three bounded labels."""
    metrics: list[tuple[str, str, list[str]]] = []
    lines = ["version: jobpulse/v1", "service:", "  name: bench", "  scrape_interval: 15s", "metrics:"]
    for i in range(METRICS):
        kind = ("counter", "gauge", "histogram")[i % 3]
        name = {
            "counter": f"svc{i}_requests_total",
            "gauge": f"svc{i}_queue_depth",
            "histogram": f"svc{i}_duration_seconds",
        }[kind]
        labels = ["status", "route"] + (["queue"] if i % 2 else [])
        metrics.append((name, kind, labels))
        lines += [f"  - name: {name}", f"    type: {kind}", f"    help: Metric {i}."]
        if kind == "histogram":
            lines += ["    unit: seconds", "    buckets: [0.1, 0.5, 1, 5]"]
        lines.append("    labels:")
        lines += [
            "      status: {values: [ok, error, timeout]}",
            "      route: {max_values: 50}",
        ] + (["      queue: {values: [default, high]}"] if "queue" in labels else [])
    return "\n".join(lines) + "\n", metrics


def rule_file(rng: random.Random, metrics: list[tuple[str, str, list[str]]]) -> str:
    """1,000 alerts in 20 groups: error ratios, latency quantiles, gauge thresholds and absent() checks."""
    by_kind = {k: [m for m in metrics if m[1] == k] for k in ("counter", "gauge", "histogram")}
    groups = []
    for g in range(20):
        rules = []
        for r in range(RULES // 20):
            n = g * (RULES // 20) + r
            shape = n % 4
            if shape == 0:
                name = rng.choice(by_kind["counter"])[0]
                expr = (
                    f'sum by (route) (rate({name}{{status="error"}}[5m]))\n  / sum by (route) (rate({name}[5m])) > 0.05'
                )
                description = "{{ $labels.route }} fails {{ $value | humanizePercentage }} of requests."
            elif shape == 1:
                base = rng.choice(by_kind["histogram"])[0]
                expr = f"histogram_quantile(0.95, sum by (le, route) (rate({base}_bucket[5m]))) > 2"
                description = "p95 on {{ $labels.route }} is {{ $value }}s."
            elif shape == 2:
                name, _, labels = rng.choice(by_kind["gauge"])
                selector = '{queue="high"}' if "queue" in labels else ""
                expr = f"max by (instance) ({name}{selector}) > {rng.randint(10, 1000)}"
                description = "{{ $labels.instance }} has {{ $value }} waiting."
            else:
                name = rng.choice(by_kind["counter"])[0]
                expr = f'absent(up{{job="svc{n % 50}"}}) or sum(increase({name}[1h])) < 1'
                description = "svc{n} is silent."
            rules.append(
                {
                    "alert": f"BenchAlert{n}",
                    "expr": expr,
                    "for": "10m",
                    "labels": {"severity": ("critical", "warning", "info")[n % 3]},
                    "annotations": {
                        "summary": f"Bench alert {n}",
                        "description": description,
                        "runbook_url": f"https://runbooks.example.com/bench#{n}",
                    },
                }
            )
        groups.append({"name": f"bench-{g}", "rules": rules})
    return yaml.safe_dump({"groups": groups}, sort_keys=False, width=200)


def timed(function: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """(median, fastest, slowest) wall time in seconds over ``rounds`` runs, after one warm-up run."""
    function()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def run(rounds: int) -> tuple[list[tuple[str, tuple[float, float, float] | None, str]], dict[str, int]]:
    rng = random.Random(4)
    spec_text, metrics = catalogue_spec(rng)
    rules_text = rule_file(rng, metrics)
    catalogue = load_catalogue(spec_text, "bench.jobpulse.yaml")
    exprs = [r["expr"] for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"]]
    problems, _ = lint_text(rules_text, "bench.rules.yml", catalogue=catalogue)
    facts = {"rules": len(exprs), "metrics": len(catalogue.spec.metrics), "lines": rules_text.count("\n")}
    facts["problems"] = len(problems)

    def full() -> object:
        cat = load_catalogue(spec_text, "bench.jobpulse.yaml")
        return lint_text(rules_text, "bench.rules.yml", catalogue=cat)

    rows: list[tuple[str, tuple[float, float, float] | None, str]] = [
        ("jobpulse lint, 200-metric catalogue (load spec + lint)", timed(full, rounds), "all 25 offline checks"),
        (
            "jobpulse lint, no catalogue",
            timed(lambda: lint_text(rules_text, "bench.rules.yml"), rounds),
            "checks that need no spec",
        ),
        ("  part: read YAML with positions", timed(lambda: load_trees(rules_text, "r.yml"), rounds), ""),
        ("  part: parse 1,000 PromQL expressions", timed(lambda: [promql_parser.parse(e) for e in exprs], rounds), ""),
    ]
    promtool = shutil.which("promtool")
    if promtool is None:
        rows.append(("promtool check rules", None, "not installed (apt-get install prometheus)"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.rules.yml"
            path.write_text(rules_text, encoding="utf-8")

            def check() -> object:
                return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, check=True)

            version = subprocess.run([promtool, "--version"], capture_output=True, text=True, check=False)
            release = version.stdout.split()[2] if version.stdout.split()[2:] else "?"
            rows.append(("promtool check rules (a subprocess)", timed(check, rounds), f"promtool {release}"))
    return rows, facts


def table(rows: list[tuple[str, tuple[float, float, float] | None, str]]) -> list[list[str]]:
    out = []
    for name, times, note in rows:
        if times is None:
            out.append([name, "—", "—", note])
        else:
            median, low, high = times
            out.append([name, f"{median * 1000:,.0f} ms", f"{low * 1000:,.0f}–{high * 1000:,.0f} ms", note])
    return out


def markdown(rows: list[tuple[str, tuple[float, float, float] | None, str]], facts: dict[str, int], rounds: int) -> str:
    header = ["what", "median", "range", "note"]
    lines = [
        BEGIN,
        "## Linting 1,000 alert rules against a 200-metric catalogue",
        "",
        f"`benchmarks/bench_lint.py` generates a spec with {facts['metrics']} metrics (counters, gauges, "
        f"histograms with bounded labels) and a rule file with {facts['rules']} alerts ({facts['lines']:,} lines: "
        "error ratios, latency quantiles, gauge thresholds, absent() checks, templated annotations), then times "
        f"a whole lint run in-process, median of {rounds} runs after a warm-up. Side by side: `promtool check "
        "rules` on the same file (Prometheus's own validator: syntax and templates, no catalogue; it runs as a "
        "subprocess, so its time includes starting Go), and the two parts of a lint run that are not checks.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table(rows)]
    full = rows[0][1]
    verdict = "meets" if full is not None and full[0] < TARGET_SECONDS else "misses"
    lines += [
        "",
        f"The full run {verdict} the target of under {TARGET_SECONDS:g} s; the generated rules produce "
        f"{facts['problems']} problems (they are written to be clean, so the number measures false positives).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the start of the run (other work shares the CPU when it is "
        "above the CPU count). Run: `.venv/bin/python benchmarks/bench_lint.py --write`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write(section: str) -> None:
    """Replace this benchmark's section in docs/benchmarks.md, or append it at the end; nothing else changes."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + (("\n" + after) if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the Markdown section")
    parser.add_argument("--write", action="store_true", help="replace or append the section in docs/benchmarks.md")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows, facts = run(args.rounds)
    section = markdown(rows, facts, args.rounds)
    if args.write:
        write(section)
        print(f"wrote the lint section of {DOC}", file=sys.stderr)
    if args.markdown or args.write:
        print(section, end="")
    else:
        for row in table(rows):
            print(f"{row[0]:58} {row[1]:>10} {row[2]:>18}  {row[3]}")


if __name__ == "__main__":
    main()
