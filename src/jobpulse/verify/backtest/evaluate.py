"""Evaluate a spec's rules over recorded samples with real Prometheus tooling.

1. ``promtool tsdb create-blocks-from openmetrics`` turns each recorded chunk into TSDB blocks (chunks are
   imported while the simulation goes on).
2. A real Prometheus (loopback only) serves that TSDB.
3. ``promtool tsdb create-blocks-from rules --url`` backfills the recording rules, one dependency level at a
   time (a rule that reads another recorded series waits for the level below it); Prometheus is restarted
   after each level so it loads the new blocks.
4. Each alerting rule's expression is evaluated with ``query_range`` at the rule group's evaluation interval
   (at the same phase as the backfilled recording rules), and ``for`` / ``keep_firing_for`` are applied
   exactly as Prometheus's rule manager does: a series is pending from its first true evaluation, firing
   once it has been true for ``for`` at every evaluation, and resolved at the first evaluation where it is
   absent (or, with ``keep_firing_for``, that long after).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobpulse.render.files import dump_yaml
from jobpulse.spec.promql import references
from jobpulse.spec.slo import duration_seconds
from jobpulse.verify.servers import PrometheusServer

MAX_POINTS = 10_000  # Prometheus answers at most 11,000 points per series and query


class BacktestError(RuntimeError):
    """promtool or Prometheus failed; the message carries their output."""


def _seconds(text: str | None) -> float:
    return float(duration_seconds(text)) if text else 0.0


@dataclass(frozen=True)
class AlertRule:
    group: str
    interval: float
    index: int  # position in the rule file, for a stable order
    name: str
    expr: str
    for_: float
    keep_firing_for: float
    labels: tuple[tuple[str, str], ...]

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass
class Firing:
    start: float
    end: float | None  # None: still firing at the end of the scenario


@dataclass
class AlertResult:
    rule: AlertRule
    firings: list[Firing] = field(default_factory=list)
    series: int = 0  # distinct label sets that fired


def alert_rules(rule_file: dict[str, Any], default_interval: str) -> list[AlertRule]:
    out: list[AlertRule] = []
    index = 0
    for group in rule_file.get("groups", []):
        interval = _seconds(group.get("interval") or default_interval)
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            out.append(
                AlertRule(
                    group=group["name"],
                    interval=interval,
                    index=index,
                    name=rule["alert"],
                    expr=rule["expr"],
                    for_=_seconds(rule.get("for")),
                    keep_firing_for=_seconds(rule.get("keep_firing_for")),
                    labels=tuple((k, str(v)) for k, v in (rule.get("labels") or {}).items()),
                )
            )
            index += 1
    return out


_RANGE = re.compile(r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)(?::[^\]]*)?\]")
#: Recording rules that no alert reads and that look back further than this are backfilled hourly.
COARSE_WINDOW = 86400.0
COARSE_INTERVAL = "1h"


def longest_range(expr: str) -> float:
    """The longest range selector (or subquery range) in a PromQL expression, in seconds."""
    return max((_seconds(m) for m in _RANGE.findall(expr)), default=0.0)


def _names(expr: str) -> set[str]:
    return {s.name for s in references(expr).selectors}


def recording_levels(
    rule_file: dict[str, Any], default_interval: str, *, workers: int = 2
) -> list[list[dict[str, Any]]]:
    """Rule files (as data) per dependency level — level k only reads series recorded below it — each level
    split into up to ``workers`` files of similar cost, backfilled side by side.

    Recording rules that no alerting rule reads (directly or through other recording rules) and that look
    back more than a day (a 30-day period ratio, remaining budget, period burn rate) are evaluated every
    hour instead of at their group's interval: their cost grows with window times evaluations, and they only
    feed reports and plots.
    """
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    alert_reads: set[str] = set()
    for group in rule_file.get("groups", []):
        for rule in group.get("rules", []):
            if "record" in rule:
                pending.append((group, rule))
            else:
                alert_reads |= _names(rule["expr"])
    recorded = {rule["record"] for _, rule in pending}
    needs = {id(rule): _names(rule["expr"]) & recorded for _, rule in pending}
    needed = alert_reads & recorded
    while True:  # everything the alerts read, transitively
        more = {n for _, rule in pending if rule["record"] in needed for n in needs[id(rule)]} - needed
        if not more:
            break
        needed |= more
    coarse: set[int] = set()
    changed = True
    while changed:
        changed = False
        for _, rule in pending:
            if id(rule) in coarse or rule["record"] in needed:
                continue
            reads_coarse = any(other["record"] in needs[id(rule)] for _, other in pending if id(other) in coarse)
            if longest_range(rule["expr"]) > COARSE_WINDOW or reads_coarse:
                coarse.add(id(rule))
                changed = True
    done: set[str] = set()
    remaining = pending
    out: list[list[dict[str, Any]]] = []
    while remaining:
        ready = [(g, r) for g, r in remaining if needs[id(r)] <= done]
        waiting = [(g, r) for g, r in remaining if not needs[id(r)] <= done]
        if not ready:
            names = ", ".join(sorted(rule["record"] for _, rule in waiting))
            raise BacktestError(f"recording rules depend on each other in a cycle: {names}")
        # longest-processing-time first: each rule goes to the file with the least work so far
        files: list[dict[str, list[dict[str, Any]]]] = [{} for _ in range(max(1, workers))]
        meta: dict[str, str] = {}
        load = [0.0] * len(files)

        def cost(item: tuple[dict[str, Any], dict[str, Any]]) -> float:
            slow = id(item[1]) not in coarse
            return (longest_range(item[1]["expr"]) + 60.0) * (60.0 if slow else 1.0)

        for group, rule in sorted(ready, key=cost, reverse=True):
            target = load.index(min(load))
            load[target] += cost((group, rule))
            if id(rule) in coarse:
                name, interval = f"{group['name']}.hourly", COARSE_INTERVAL
            else:
                name, interval = group["name"], group.get("interval") or default_interval
            meta[name] = interval
            files[target].setdefault(name, []).append(rule)
        out.append(
            [
                {"groups": [{"name": n, "interval": meta[n], "rules": rules} for n, rules in sorted(f.items())]}
                for f in files
                if f
            ]
        )
        done |= {rule["record"] for _, rule in ready}
        remaining = waiting
    return out


def apply_for(
    eval_times: list[float], present: dict[tuple[tuple[str, str], ...], set[float]], rule: AlertRule
) -> AlertResult:
    """Pending → firing after ``for`` of continuous truth; resolved when false (after ``keep_firing_for``)."""
    result = AlertResult(rule)
    merged: list[Firing] = []
    for times in present.values():
        active_since: float | None = None
        false_since: float | None = None
        firing_since: float | None = None
        intervals: list[Firing] = []
        for t in eval_times:
            if t in times:
                false_since = None
                if active_since is None:
                    active_since = t
                if firing_since is None and t - active_since >= rule.for_:
                    firing_since = t
                continue
            if firing_since is not None and rule.keep_firing_for > 0:
                if false_since is None:
                    false_since = t
                if t - false_since < rule.keep_firing_for:
                    continue
            if firing_since is not None:
                intervals.append(Firing(firing_since, t))
            active_since = firing_since = false_since = None
        if firing_since is not None:
            intervals.append(Firing(firing_since, None))
        if intervals:
            result.series += 1
            merged.extend(intervals)
    result.firings = _union(merged)
    return result


def _union(intervals: list[Firing]) -> list[Firing]:
    out: list[Firing] = []
    for item in sorted(intervals, key=lambda f: f.start):
        if out and (out[-1].end is None or item.start <= out[-1].end):
            last = out[-1]
            if last.end is not None:
                last.end = None if item.end is None else max(last.end, item.end)
            continue
        out.append(Firing(item.start, item.end))
    return out


def rule_block_hours(rule_file: dict[str, Any]) -> int:
    """The longest block promtool may write for these rules: 2h·3^k, at most MAX_POINTS evaluations long.

    promtool evaluates a rule with one range query per block, and Prometheus answers at most 11,000
    points per query; without a longer block it writes one 2-hour block per rule and 2 hours.
    """
    shortest = min((_seconds(g.get("interval")) or 60.0 for g in rule_file.get("groups", [])), default=60.0)
    hours = 2
    while hours * 3 * 3600 / shortest <= MAX_POINTS:
        hours *= 3
    return hours


class _TSDBPrometheus(PrometheusServer):
    """Prometheus on an existing TSDB: long retention, no scraping, overlapping (backfilled) blocks."""

    def arguments(self, config_file: Path | None, port: int) -> list[str]:
        return [
            *super().arguments(config_file, port),
            "--storage.tsdb.retention.time=100y",
            "--storage.tsdb.allow-overlapping-blocks",
            "--query.max-samples=500000000",
        ]


class TSDB:
    """A TSDB directory filled by promtool, served by a real Prometheus for rule evaluation."""

    def __init__(self, workdir: Path, *, promtool: str, prometheus: str) -> None:
        self.workdir = workdir
        self.promtool = promtool
        self.prometheus = prometheus
        self.server_dir = workdir / "prometheus"
        self.data = self.server_dir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self._imports: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.server: PrometheusServer | None = None

    # -- raw samples ------------------------------------------------------------------------------
    def import_chunk(self, path: Path) -> None:
        """Start importing one OpenMetrics chunk (at most two promtool processes at a time)."""
        while len(self._imports) >= 2:
            self._finish_one()
        log = path.with_suffix(".log")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    self.promtool,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--quiet",
                    "--max-block-duration=1500h",
                    str(path),
                    str(self.data),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._imports.append((proc, path))

    def _finish_one(self) -> None:
        proc, path = self._imports.pop(0)
        code = proc.wait()
        log = path.with_suffix(".log")
        if code != 0:
            raise BacktestError(f"promtool could not import {path.name}:\n{log.read_text(errors='replace')[-2000:]}")
        path.unlink(missing_ok=True)
        log.unlink(missing_ok=True)

    def wait_imports(self) -> None:
        while self._imports:
            self._finish_one()

    # -- server -----------------------------------------------------------------------------------
    def start(self) -> PrometheusServer:
        self.stop()
        self.server = _TSDBPrometheus(
            config={"global": {"evaluation_interval": "1m"}, "scrape_configs": []},
            workdir=self.server_dir,
            binary=self.prometheus,
        )
        self.server.start(timeout=60)
        # a range query over weeks of samples can take longer than the harness's default of 10 seconds
        self.server.api.timeout = 600.0
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> TSDB:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, _ in self._imports:
            proc.kill()
            proc.wait()
        self._imports.clear()
        self.stop()

    # -- recording rules --------------------------------------------------------------------------
    def backfill(self, levels: list[list[dict[str, Any]]], start: int, end: int) -> None:
        """Backfill each level of recording rules over [start, end] (its files side by side), restarting
        Prometheus after each level so the next one reads its blocks."""
        for number, files in enumerate(levels):
            assert self.server is not None
            procs = []
            for part, rule_file in enumerate(files):
                # Each part runs in its own directory on a file of the same name: promtool aligns a group's
                # evaluations by a hash of its name and file, so every part of a group gets the same phase.
                part_dir = self.workdir / f"rules-{number}-{part}"
                shutil.rmtree(part_dir, ignore_errors=True)
                out_dir = part_dir / "blocks"
                out_dir.mkdir(parents=True)
                (part_dir / "rules.yml").write_text(dump_yaml(rule_file))
                command = [
                    self.promtool,
                    "tsdb",
                    "create-blocks-from",
                    "rules",
                    "--quiet",
                    f"--max-block-duration={rule_block_hours(rule_file)}h",
                    f"--start={start}",
                    f"--end={end}",
                    f"--url={self.server.url}",
                    f"--output-dir={out_dir}",
                    "rules.yml",
                ]
                log = (part_dir / "promtool.log").open("wb")
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=part_dir)
                procs.append((proc, log, out_dir))
            failures = []
            for proc, log, out_dir in procs:
                code = proc.wait(timeout=3600)
                log.close()
                if code != 0:
                    text = Path(log.name).read_text(errors="replace")
                    failures.append(f"promtool could not backfill recording rules:\n{text[-3000:]}")
                    continue
                for block in out_dir.iterdir():
                    if block.is_dir():
                        block.replace(self.data / block.name)
                shutil.rmtree(out_dir.parent, ignore_errors=True)
            if failures:
                raise BacktestError("\n".join(failures))
            self.start()

    # -- queries ----------------------------------------------------------------------------------
    def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
        """``query_range`` in pieces of at most MAX_POINTS steps; series → [(time, value)]."""
        assert self.server is not None
        out: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        t = start
        while t <= end:
            piece_end = min(end, t + step * (MAX_POINTS - 1))
            for series in self.server.query_range(expr, t, piece_end, step):
                key = tuple(sorted(series["metric"].items()))
                out.setdefault(key, []).extend((float(ts), float(v)) for ts, v in series["values"])
            t = piece_end + step
        return out

    def phase(self, record: str, labels: dict[str, str], start: float, interval: float) -> float:
        """The offset (mod ``interval``) at which a backfilled recording rule's samples were written."""
        assert self.server is not None
        matchers = ",".join(f'{k}="{v}"' for k, v in labels.items())
        window = int(interval * 3)
        result = self.server.query(f"{record}{{{matchers}}}[{window}s]", time=start + 10 * interval)
        for series in result:
            values = series.get("values") or []
            if values:
                return float(values[-1][0]) % interval
        return 0.0

    def evaluate_alert(self, rule: AlertRule, start: float, end: float, phase: float) -> AlertResult:
        first = start - (start % rule.interval) + phase
        while first < start:
            first += rule.interval
        count = int((end - first) // rule.interval) + 1
        eval_times = [first + i * rule.interval for i in range(count)]
        series = self.query_range(rule.expr, first, eval_times[-1], rule.interval)
        present: dict[tuple[tuple[str, str], ...], set[float]] = {}
        for key, values in series.items():
            merged = tuple(sorted({**dict(key), **rule.label_dict}.items()))
            present.setdefault(merged, set()).update(round(t, 3) for t, _ in values)
        return apply_for([round(t, 3) for t in eval_times], present, rule)
