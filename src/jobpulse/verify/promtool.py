"""Run promtool: check rule files and run the spec's alert unit tests, one result per test."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobpulse.compile.build import BuildResult
from jobpulse.compile.tests import TestGroup, test_file
from jobpulse.render.files import dump_yaml, write_build
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


def check_rules(path: str | Path, *, promtool: str | None = None) -> CheckResult:
    """``promtool check rules PATH``."""
    binary = promtool or require_binary("promtool")
    proc = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


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
        single: dict[str, Path] = {}
        jobs: list[tuple[Path, str, int]] = []
        for index, group in enumerate(result.test_groups):
            rule_file = rules
            if group.rule_group is not None:
                # a generated SLO/LLM test needs only its own rule group: evaluating the others is wasted time
                if group.rule_group not in single:
                    subset = [g for g in all_groups if g["name"] == group.rule_group]
                    single[group.rule_group] = base / f"rules_{len(single):03d}.yml"
                    single[group.rule_group].write_text(dump_yaml({"groups": subset or all_groups}))
                rule_file = single[group.rule_group]
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
