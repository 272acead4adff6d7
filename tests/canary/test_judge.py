"""Verdicts from per-interval numbers: fail only when worse and significant, inconclusive rather than a silent pass."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from jobpulse.canary.judge import FAIL, INCONCLUSIVE, PASS, SideData, judge_metric, judge_phase_metrics
from jobpulse.spec.load import load_spec

FIXTURE = Path(__file__).parents[1] / "fixtures" / "canary" / "rollout.yaml"
ROLLOUT = load_spec(FIXTURE).rollouts[0]
ERRORS, LATENCY = ROLLOUT.metrics
PHASE = ROLLOUT.phases[0]  # min_events 1000
BOUNDS = (0.1, 0.2, 0.3, 0.5, 1.0, float("inf"))


def ratio_side(rate: float, p: float, intervals: int = 30, seed: int = 1) -> SideData:
    rng = random.Random(seed)
    events, hits = [], []
    for _ in range(intervals):
        n = sum(1 for _ in range(int(rate * 2)) if rng.random() < 0.5)
        events.append(float(n))
        hits.append(float(sum(1 for _ in range(n) if rng.random() < p)))
    return SideData(events, hits=hits)


def latency_side(rate: int, shares: list[float], intervals: int = 30, seed: int = 1) -> SideData:
    rng = random.Random(seed)
    buckets = []
    for _ in range(intervals):
        counts = [0] * len(BOUNDS)
        for _ in range(rate):
            r, acc = rng.random(), 0.0
            for i, share in enumerate(shares):
                acc += share
                if r < acc:
                    counts[i] += 1
                    break
        cumulative, total = [], 0
        for c in counts:
            total += c
            cumulative.append(float(total))
        buckets.append(cumulative)
    return SideData([b[-1] for b in buckets], buckets=buckets, bounds=BOUNDS)


def test_a_canary_like_its_baseline_passes_with_its_numbers() -> None:
    verdict = judge_metric(ROLLOUT, PHASE, ERRORS, ratio_side(60, 0.02, seed=1), ratio_side(1000, 0.02, seed=2))
    assert verdict.verdict == PASS, verdict.reason
    assert verdict.test is not None and verdict.canary.samples == 30
    assert verdict.canary.value == pytest.approx(0.02, abs=0.01)


def test_three_times_the_errors_fails() -> None:
    verdict = judge_metric(ROLLOUT, PHASE, ERRORS, ratio_side(60, 0.06, seed=3), ratio_side(1000, 0.02, seed=4))
    assert verdict.verdict == FAIL, verdict.reason
    assert verdict.test is not None and verdict.test.p_value < 0.02 and verdict.test.direction == "increase"
    assert "worse by +" in verdict.reason and "significant at 98%" in verdict.reason


def test_fewer_errors_on_the_canary_is_not_a_failure_when_increase_is_bad() -> None:
    verdict = judge_metric(ROLLOUT, PHASE, ERRORS, ratio_side(60, 0.0, seed=5), ratio_side(1000, 0.05, seed=6))
    assert verdict.verdict == PASS
    either = replace(ERRORS, direction="either")
    assert (
        judge_metric(ROLLOUT, PHASE, either, ratio_side(60, 0.0, seed=5), ratio_side(1000, 0.05, seed=6)).verdict
        == FAIL
    )


def test_slower_tail_fails_the_latency_metric() -> None:
    same = [0.3, 0.3, 0.2, 0.15, 0.04, 0.01]
    slow = [0.3, 0.3, 0.2, 0.05, 0.10, 0.05]
    verdict = judge_metric(ROLLOUT, PHASE, LATENCY, latency_side(60, slow, seed=1), latency_side(900, same, seed=2))
    assert verdict.verdict == FAIL, verdict.reason
    ok = judge_metric(ROLLOUT, PHASE, LATENCY, latency_side(60, same, seed=3), latency_side(900, same, seed=4))
    assert ok.verdict == PASS, ok.reason


def test_no_data_and_too_little_traffic_are_inconclusive_with_numbers() -> None:
    empty = SideData([0.0] * 30, hits=[0.0] * 30)
    verdict = judge_metric(ROLLOUT, PHASE, ERRORS, empty, ratio_side(1000, 0.02))
    assert verdict.verdict == INCONCLUSIVE and "no data on the canary side" in verdict.reason
    starved = judge_metric(ROLLOUT, PHASE, ERRORS, ratio_side(2, 0.5), ratio_side(1000, 0.02))
    assert starved.verdict == INCONCLUSIVE
    assert "too little traffic: canary" in starved.reason and "needs 1,000 per side" in starved.reason


def test_looking_worse_without_evidence_is_inconclusive_not_pass() -> None:
    # 3 intervals with data out of 30 on the canary: too sparse to test, whatever the ratio says
    events = [0.0] * 27 + [500.0] * 3
    sparse = SideData(events, hits=[0.0] * 27 + [50.0] * 3)
    verdict = judge_metric(ROLLOUT, PHASE, ERRORS, sparse, ratio_side(1000, 0.02))
    assert verdict.verdict == INCONCLUSIVE and "too few intervals" in verdict.reason


def _verdict(metric_name: str, verdict: str, critical: bool):  # type: ignore[no-untyped-def]
    base = judge_metric(ROLLOUT, PHASE, ERRORS, ratio_side(60, 0.02), ratio_side(1000, 0.02))
    return replace(base, metric=replace(ERRORS, name=metric_name, critical=critical), verdict=verdict)


def test_phase_rules_critical_score_and_half_judged() -> None:
    assert judge_phase_metrics(ROLLOUT, [_verdict("a", FAIL, True), _verdict("b", PASS, False)])[0] == FAIL
    # 3 of 4 pass = 75 %: pass at the default pass_score, with the failing metric named
    verdict, reason = judge_phase_metrics(
        ROLLOUT, [_verdict("a", FAIL, False)] + [_verdict(n, PASS, False) for n in "bcd"]
    )
    assert verdict == PASS and "worse: a" in reason
    assert judge_phase_metrics(ROLLOUT, [_verdict("a", FAIL, False), _verdict("b", PASS, False)])[0] == FAIL
    assert judge_phase_metrics(ROLLOUT, [_verdict("a", INCONCLUSIVE, True), _verdict("b", PASS, False)])[0] == (
        INCONCLUSIVE
    )
    verdict, reason = judge_phase_metrics(
        ROLLOUT, [_verdict("a", INCONCLUSIVE, False), _verdict("b", INCONCLUSIVE, False), _verdict("c", PASS, False)]
    )
    assert verdict == INCONCLUSIVE and "only 1 of 3" in reason
    verdict, reason = judge_phase_metrics(ROLLOUT, [_verdict("a", INCONCLUSIVE, False), _verdict("b", PASS, False)])
    assert verdict == PASS and "not judged: a" in reason
