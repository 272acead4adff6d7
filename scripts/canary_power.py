"""How often `jobpulse canary` fails a good canary, and how often it catches a bad one.

Simulates per-interval samples the way Prometheus would hand them to the judge — Poisson traffic split between the
sides by the phase's weight, each request failing independently, latencies log-normal and counted into the
histogram's buckets — and runs the same judgement (`jobpulse.canary.judge`) on them. The rollout, its metrics,
allowed differences and traffic guard come from a spec (default: the test fixture, a 30-minute phase of 1-minute
samples, 1000 events per side, 98 % confidence, 900 requests a minute, 1 % errors).

    .venv/bin/python scripts/canary_power.py            # print the tables
    .venv/bin/python scripts/canary_power.py --write    # and refresh its section of docs/canary.md

The fetch from Prometheus is not simulated here; tests/verify/backtest/test_rollout.py runs the same judgement on
data recorded by the real tracker and served by a real Prometheus.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from jobpulse.canary.judge import FAIL, SideData, judge_metric, judge_phase_metrics
from jobpulse.spec.load import load_spec
from jobpulse.spec.rollout import Phase, Rollout

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "canary" / "rollout.yaml"
DOC = ROOT / "docs" / "canary.md"
BEGIN, END = "<!-- canary-power: begin -->", "<!-- canary-power: end -->"


def side(
    rng: Any, rate: float, intervals: int, failure: float, median: float, p95: float, bounds: tuple[float, ...]
) -> tuple[SideData, SideData]:
    """(ratio data, latency data) for one side: ``rate`` requests per interval."""
    events = rng.poisson(rate, intervals).astype(float)
    hits = rng.binomial(events.astype(int), min(1.0, failure)).astype(float)
    sigma = math.log(p95 / median) / 1.6448536269514722
    buckets = []
    for n in events.astype(int):
        latencies = rng.lognormal(math.log(median), sigma, n)
        buckets.append([float(np.count_nonzero(latencies <= b)) for b in bounds])
    return (
        SideData(list(events), hits=list(hits)),
        SideData(list(events), buckets=buckets, bounds=bounds),
    )


def run_once(
    rollout: Rollout,
    phase: Phase,
    bounds: tuple[float, ...],
    rng: Any,
    *,
    weight: float,
    rate: float,
    failure: float,
    error_factor: float = 1.0,
    p95_factor: float = 1.0,
) -> tuple[str, dict[str, str]]:
    """One phase: (phase verdict, metric name → verdict)."""
    intervals = int(phase.min_duration_seconds // rollout.interval_seconds)
    per_interval = rate * rollout.interval_seconds / 60
    c_ratio, c_latency = side(
        rng, per_interval * weight, intervals, failure * error_factor, 0.2, 0.5 * p95_factor, bounds
    )
    b_ratio, b_latency = side(rng, per_interval * (1 - weight), intervals, failure, 0.2, 0.5, bounds)
    verdicts = []
    for metric in rollout.metrics:
        if metric.kind == "ratio":
            verdicts.append(judge_metric(rollout, phase, metric, c_ratio, b_ratio))
        else:
            verdicts.append(judge_metric(rollout, phase, metric, c_latency, b_latency))
    verdict, _ = judge_phase_metrics(rollout, verdicts)
    return verdict, {v.metric.name: v.verdict for v in verdicts}


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, default=FIXTURE)
    parser.add_argument("--runs", type=int, default=100, help="rollouts per cell (default 100)")
    parser.add_argument("--rate", type=float, default=900.0, help="requests per minute, both sides (default 900)")
    parser.add_argument("--failure", type=float, default=0.01, help="the baseline's error ratio (default 0.01)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--write", action="store_true", help="refresh the section in docs/canary.md")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    rollout = spec.rollouts[0]
    latency = next(m for m in rollout.metrics if m.kind == "latency")
    histogram = spec.metrics[latency.histogram or ""]
    assert histogram.buckets is not None
    bounds = (*histogram.buckets, math.inf)
    errors = next(m for m in rollout.metrics if m.kind == "ratio")
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    phases = {w: rollout.phases[0] if w <= rollout.phases[0].weight else rollout.phases[1] for w in (5.0, 25.0)}

    good_rows = []
    for weight, phase in phases.items():
        counts: Counter[str] = Counter()
        metric_fails: Counter[str] = Counter()
        for _ in range(args.runs):
            verdict, per_metric = run_once(
                rollout, phase, bounds, rng, weight=weight / 100, rate=args.rate, failure=args.failure
            )
            counts[verdict] += 1
            metric_fails.update(name for name, v in per_metric.items() if v == FAIL)
        good_rows.append(
            [
                f"{weight:g} %",
                f"**{counts[FAIL]}** / {args.runs}",
                str(counts["pass"]),
                str(counts["inconclusive"]),
                ", ".join(f"{name} {n}" for name, n in sorted(metric_fails.items())) or "none",
            ]
        )

    power_rows = []
    for factor in (1.5, 2.0, 3.0):
        row = [f"{factor:g}x"]
        for weight, phase in phases.items():
            counts = Counter()
            for _ in range(args.runs):
                _, per_metric = run_once(
                    rollout,
                    phase,
                    bounds,
                    rng,
                    weight=weight / 100,
                    rate=args.rate,
                    failure=args.failure,
                    error_factor=factor,
                )
                counts[per_metric[errors.name]] += 1
            row.append(f"**{counts[FAIL] * 100 / args.runs:.0f} %** ({counts['inconclusive']} inconclusive)")
        power_rows.append(row)

    p95_row = ["p95 +40 %"]
    for weight, phase in phases.items():
        counts = Counter()
        for _ in range(args.runs):
            _, per_metric = run_once(
                rollout, phase, bounds, rng, weight=weight / 100, rate=args.rate, failure=args.failure, p95_factor=1.4
            )
            counts[per_metric[latency.name]] += 1
        p95_row.append(f"**{counts[FAIL] * 100 / args.runs:.0f} %** ({counts['inconclusive']} inconclusive)")
    power_rows.append(p95_row)
    seconds = time.perf_counter() - began

    where = args.spec.relative_to(ROOT) if args.spec.is_relative_to(ROOT) else args.spec
    setup = (
        f"Setup: rollout `{rollout.name}` of `{where}`"
        f" — one phase of {phases[5.0].min_duration} judged on {rollout.interval} samples, at least "
        f"{phases[5.0].min_events:,} events per side, {rollout.confidence * 100:g} % confidence; "
        f"{args.rate:g} requests a minute split between canary and baseline by the phase's weight; baseline "
        f"error ratio {args.failure * 100:g} %, latency median 0.2 s and p95 0.5 s; error ratio allowed "
        f"+{errors.allowed_relative * 100:g} % or +{errors.allowed_absolute * 100:g} pp, p95 allowed "
        f"+{latency.allowed_relative * 100:g} %. {args.runs} independent rollouts per cell, seed {args.seed}; "
        f"{seconds:.0f} s."
    )
    text = "\n\n".join(
        [
            setup,
            "Good canaries (the same distributions as the baseline): how many phases fail.",
            table(good_rows, ["canary traffic", "phase fails", "passes", "inconclusive", "failing metric"]),
            "Bad canaries: how often the error-ratio metric (or the p95 metric) fails in the first phase.",
            table(power_rows, ["canary is", "at 5 % traffic", "at 25 % traffic"]),
            "Command: `.venv/bin/python scripts/canary_power.py --write`.",
        ]
    )
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        section = f"{BEGIN}\n{text}\n{END}"
        if BEGIN in doc:
            doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, doc, flags=re.S)
        else:
            doc += "\n" + section + "\n"
        DOC.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
