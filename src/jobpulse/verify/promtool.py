"""Run promtool: check rule files and run the spec's alert unit tests, one result per test."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jobpulse.compile.build import BuildResult
from jobpulse.compile.tests import TestGroup, test_file
from jobpulse.render.files import dump_yaml, write_build
from jobpulse.spec.promql import references
from jobpulse.spec.slo import duration_seconds
from jobpulse.verify.binaries import require_binary


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    output: str
    seconds: float
    #: evaluation steps promtool computes for this test (its last eval_time / the evaluation interval):
    #: what makes a test slow
    steps: int = 0


#: ``run_tests`` calls ``on_start(name)`` as promtool starts a test and ``on_result(result)`` as it ends
StartCallback = Callable[[str], None]
ResultCallback = Callable[[TestResult], None]

PARALLEL = 2
#: a Go template calling ``query`` (``{{ query "..." }}``, ``{{ with query ... }}``): it may read any series
TEMPLATE_QUERY = re.compile(r"\{\{[^}]*\bquery\b")


def check_rules(path: str | Path, *, promtool: str | None = None) -> CheckResult:
    """``promtool check rules PATH``."""
    binary = promtool or require_binary("promtool")
    proc = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def run_test_file(test_path: str | Path, *, name: str = "", promtool: str | None = None) -> TestResult:
    """``promtool test rules TEST_PATH``: one promtool test file, its output and how long it took."""
    return _run_one(promtool or require_binary("promtool"), Path(test_path), name or Path(test_path).name, 0)


def _run_one(binary: str, test_path: Path, name: str, steps: int) -> TestResult:
    started = time.perf_counter()
    proc = subprocess.run(
        [binary, "test", "rules", str(test_path)], capture_output=True, text=True, check=False, timeout=300
    )
    output = (proc.stdout + proc.stderr).strip()
    return TestResult(name, proc.returncode == 0, output, time.perf_counter() - started, steps)


def evaluation_steps(group: TestGroup) -> int:
    """How many rule evaluations promtool runs for ``group``: its last ``eval_time`` over the interval."""
    interval = float(duration_seconds(group.evaluation_interval)) or 60.0
    times = [
        float(duration_seconds(str(case.get("eval_time", "0s"))))
        for key in ("alert_rule_test", "promql_expr_test")
        for case in group.body.get(key) or []
    ]
    return int(max(times, default=0.0) // interval) + 1


def shard(groups: list[TestGroup], index: int, count: int) -> list[TestGroup]:
    """Shard ``index`` (1-based) of ``count``: the tests split so each shard has about as many evaluation steps.

    Longest first, each to the shard with the fewest steps so far (ties: the lower shard), then in the spec's
    order; deterministic, so ``--shard 1/3``, ``2/3`` and ``3/3`` on three machines run every test once.
    """
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: the index must be from 1 to {count}")
    load = [0] * count
    owner: dict[int, int] = {}
    ranked = sorted(range(len(groups)), key=lambda i: (-evaluation_steps(groups[i]), i))
    for i in ranked:
        target = min(range(count), key=lambda s: (load[s], s))
        owner[i] = target
        load[target] += evaluation_steps(groups[i])
    return [group for i, group in enumerate(groups) if owner[i] == index - 1]


def needed_rules(all_groups: list[dict[str, Any]], test: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules a promtool test group can observe, in their groups and order: the alerts it tests and the
    recording rules that those (and its PromQL expressions) read, transitively; all groups when in doubt.

    promtool evaluates every loaded rule at every step, so a test of one alert over days of samples pays for
    every other rule too: the platform example's day-long KPI tests were 10x slower with the SLO groups
    loaded, and an SLO's 30-day budget rules doubled the time of its 3-day ticket test. A rule reads only
    the series it names (rules of one group see each other's results, and those it reads are kept), so
    leaving out the rules nothing observed reads changes no result. A template that runs a query, or an
    expression reading alert state or a selector without a metric name, may read anything: all groups.
    """
    producers: dict[str, list[tuple[int, int]]] = {}
    for g, group in enumerate(all_groups):
        for r, rule in enumerate(group.get("rules") or []):
            name = rule.get("alert") or rule.get("record")
            if isinstance(name, str):
                producers.setdefault(name, []).append((g, r))
            templates = list((rule.get("annotations") or {}).values()) + list((rule.get("labels") or {}).values())
            if any(TEMPLATE_QUERY.search(str(text)) for text in templates):
                return all_groups

    def reads(expr: str) -> set[str] | None:
        try:
            refs = references(expr)
        except ValueError:
            return None
        names = {selector.name for selector in refs.selectors}
        if "" in names or names & {"ALERTS", "ALERTS_FOR_STATE"}:
            return None  # a selector without a metric name, or alert state: anything may matter
        return names

    wanted: set[tuple[int, int]] = set()
    pending: list[str] = []
    for case in test.get("alert_rule_test") or []:
        alert = case.get("alertname")
        if alert not in producers:
            return all_groups
        pending.append(alert)
    for case in test.get("promql_expr_test") or []:
        names = reads(str(case.get("expr", "")))
        if names is None:
            return all_groups
        pending += sorted(names)
    while pending:
        for g, r in producers.get(pending.pop(), ()):
            if (g, r) in wanted:
                continue
            wanted.add((g, r))
            names = reads(str(all_groups[g]["rules"][r].get("expr", "")))
            if names is None:
                return all_groups
            pending += sorted(names)
    out = []
    for g, group in enumerate(all_groups):
        rules = [rule for r, rule in enumerate(group.get("rules") or []) if (g, r) in wanted]
        if rules:
            out.append({**group, "rules": rules})
    return out


def run_tests(
    result: BuildResult,
    *,
    promtool: str | None = None,
    workdir: Path | None = None,
    on_start: StartCallback | None = None,
    on_result: ResultCallback | None = None,
) -> list[TestResult]:
    """Build into a scratch directory and run each of the spec's tests as its own promtool test file.

    Tests run two at a time; the results come back in the spec's order, and ``on_start``/``on_result``
    report each one as it starts and ends (from the worker threads).
    """
    binary = promtool or require_binary("promtool")
    with tempfile.TemporaryDirectory(prefix="jobpulse-test-") as scratch:
        base = Path(workdir or scratch)
        build_dir = base / "build"
        write_build(result, build_dir)
        rules = (build_dir / result.rule_file).resolve()
        all_groups = yaml.safe_load(rules.read_text())["groups"]
        subsets: dict[str, Path] = {}
        jobs: list[tuple[Path, str, int]] = []
        for index, group in enumerate(result.test_groups):
            candidates = all_groups
            if group.rule_group is not None:
                # a generated SLO/LLM test observes only its own rule group
                candidates = [g for g in all_groups if g["name"] == group.rule_group] or all_groups
            subset = needed_rules(candidates, group.body)
            key = dump_yaml({"groups": subset})
            if key not in subsets:
                subsets[key] = base / f"rules_{len(subsets):03d}.yml"
                subsets[key].write_text(key)
            rule_file = subsets[key]
            path = base / f"test_{index:03d}.yml"
            path.write_text(dump_yaml(test_file(str(rule_file), group.evaluation_interval, [group])))
            jobs.append((path, group.name, evaluation_steps(group)))

        def run(job: tuple[Path, str, int]) -> TestResult:
            if on_start is not None:
                on_start(job[1])
            outcome = _run_one(binary, *job)
            if on_result is not None:
                on_result(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            return list(pool.map(run, jobs))
