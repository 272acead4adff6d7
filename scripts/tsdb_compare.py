"""Prometheus vs VictoriaMetrics + vmalert: when the same alerts reach Alertmanager, and what MetricsQL changes.

Runs the fault scenario of tests/verify/test_tsdb_compare.py (healthy, then half of the jobs fail, then the
target goes away) through both stacks twice — VictoriaMetrics with `-search.latencyOffset=1s` and with its
default 30s — then the two measurements on loaded data (a series that stops without a staleness marker, a
counter born at 1), and prints the tables of docs/scaling.md.

    .venv/bin/python scripts/tsdb_compare.py            # print the tables (about 6 minutes)
    .venv/bin/python scripts/tsdb_compare.py --write    # and refresh their section of docs/scaling.md

Needs prometheus, promtool, prometheus-alertmanager and victoria-metrics (scripts/install-system-deps.sh).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

from jobpulse.verify.tsdb_compare import Comparison, Phase, first_increment, run_comparison, staleness_without_markers

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "fixtures" / "tsdb" / "jobpulse.yaml"
DOC = ROOT / "docs" / "scaling.md"
BEGIN, END = "<!-- tsdb-compare: begin -->", "<!-- tsdb-compare: end -->"
PHASES = [Phase("healthy", 30, 0.02), Phase("failing", 45, 0.5), Phase("outage", 45, 0.5, serving=False)]
EXPECTED = {
    "JobsFailing": "failing",
    "JobsFailingIncrease": "failing",
    "TargetDown": "outage",
    "JobMetricsAbsent": "outage",
}
RATE = "sum(rate(work_jobs_done_total[20s]))"
INCREASE = 'sum(increase(work_jobs_done_total{outcome="error"}[20s]))'


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def detection_table(runs: dict[str, Comparison]) -> list[str]:
    lines = [
        "| alert | phase | Prometheus | vmalert, latencyOffset 1s | vmalert, latencyOffset 30s (default) |",
        "|---|---|---|---|---|",
    ]
    for alert, phase in EXPECTED.items():
        prometheus = runs["1s"].detection("prometheus", alert, phase)
        cells = [_seconds(prometheus)]
        for offset in ("1s", "30s"):
            vm = runs[offset].detection("vmalert", alert, phase)
            own = runs[offset].detection("prometheus", alert, phase)  # Prometheus of the same run
            delta = "" if vm is None or own is None else f" ({vm - own:+.1f} s)"
            cells.append(_seconds(vm) + delta)
        lines.append(f"| {alert} | {phase} | " + " | ".join(cells) + " |")
    return lines


def early_alerts(run: Comparison) -> list[str]:
    start = run.phase_started["failing"]
    return sorted(
        f"{ruler}: {name}"
        for ruler, alerts in run.arrivals.items()
        for name, times in alerts.items()
        if times and times[0] < start
    )


def startup_alerts(run: Comparison) -> list[str]:
    return sorted(f"{ruler}: {name}" for ruler, names in run.startup.items() for name in names)


def value_rows(run: Comparison) -> list[str]:
    failing, outage = run.phase_started["failing"], run.phase_started["outage"]
    rows = []
    for label, query in (("rate, 20 s window inside the failing phase", RATE), ("increase of failures", INCREASE)):
        pairs = [(p, v) for t, p, v in run.samples[query] if failing + 21 < t < outage and None not in (p, v)]
        if pairs:
            prometheus = statistics.mean(p for p, _ in pairs)
            victoria = statistics.mean(v for _, v in pairs if v is not None)
            rows.append(f"| {label} | {prometheus:.2f} | {victoria:.2f} | {len(pairs)} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the section in docs/scaling.md")
    args = parser.parse_args()
    runs: dict[str, Comparison] = {}
    with tempfile.TemporaryDirectory(prefix="jobpulse-tsdb-") as tmp:
        for offset in ("1s", "30s"):
            print(f"scenario with -search.latencyOffset={offset} ...", file=sys.stderr)
            runs[offset] = run_comparison(
                SPEC,
                Path(tmp) / f"run-{offset}",
                job="work",
                phases=PHASES,
                queries=[RATE, INCREASE],
                latency_offset=offset,
            )
        print("staleness and first increment on loaded data ...", file=sys.stderr)
        stale = staleness_without_markers(Path(tmp) / "stale", interval=15)
        born = first_increment(Path(tmp) / "born")
    lines = [
        f"Measured on {os.cpu_count()} cores with Debian's Prometheus 2.42, Alertmanager 0.25 and VictoriaMetrics "
        "1.79 (`victoria-metrics`, `vmagent`, `vmalert`); scrape and rule evaluation every second; the alerts "
        "have `for: 5s`. Time from the start of the phase until the alert reached Alertmanager "
        "(vmalert's difference to Prometheus in the same run in brackets):",
        "",
        *detection_table(runs),
        "",
        "Alerts before the fault, while the healthy workload ran: "
        + "; ".join(f"latencyOffset {o}: {', '.join(early_alerts(r)) or 'none'}" for o, r in runs.items())
        + ". While the stacks started (all at once; before the first samples were visible): "
        + "; ".join(f"latencyOffset {o}: {', '.join(startup_alerts(r)) or 'none'}" for o, r in runs.items())
        + ".",
        "",
        "The same query on both stores, every second of the failing phase, read after the run (latencyOffset 1s):",
        "",
        "| query | Prometheus (mean) | VictoriaMetrics (mean) | samples |",
        "|---|---|---|---|",
        *value_rows(runs["1s"]),
        "",
        "Loaded data (`promtool tsdb create-blocks-from openmetrics`, VictoriaMetrics' import API):",
        "",
        "| measurement | Prometheus | VictoriaMetrics |",
        "|---|---|---|",
        f"| a series sampled every 15 s stops without a staleness marker: `absent()` after | "
        f"{_seconds(stale['prometheus'])} | {_seconds(stale['victoria-metrics step=5m'])} with vmalert's default "
        f"`-datasource.queryStep=5m`; {_seconds(stale['victoria-metrics step=15s'])} with a 15 s step |",
        f"| `increase(x[5m])` of a counter that appears at 1 | {born['prometheus']} | {born['victoria-metrics']} |",
        "",
        "Command: `.venv/bin/python scripts/tsdb_compare.py --write`.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(doc):
            print(f"{DOC} has no {BEGIN} ... {END} section", file=sys.stderr)
            return 1
        DOC.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
