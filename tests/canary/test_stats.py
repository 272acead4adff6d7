"""The statistics behind a verdict, checked against scipy, brute force and Prometheus's own definitions."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobpulse.canary.stats import (
    bucket_counts,
    histogram_quantile,
    rank_test,
    remove_outliers,
    rng_for,
    thin_buckets,
    thin_ratio,
)

INF = math.inf


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    bounds = (0.1, 0.5, 1.0, INF)
    # 10 below 0.1, 30 in (0.1, 0.5], 60 in (0.5, 1]: rank 95 is 55/60 into the last finite bucket
    assert histogram_quantile(0.95, bounds, [10, 30, 60, 0]) == pytest.approx(0.5 + 0.5 * 55 / 60)
    assert histogram_quantile(0.05, bounds, [10, 30, 60, 0]) == pytest.approx(0.05)  # first bucket from 0
    assert histogram_quantile(0.99, bounds, [10, 30, 50, 10]) == 1.0  # in +Inf: the highest finite bound
    assert math.isnan(histogram_quantile(0.5, bounds, [0, 0, 0, 0]))


def test_bucket_counts_from_cumulative_tolerates_extrapolated_floats() -> None:
    assert bucket_counts([1.2, 4.9, 4.7, 10.0]) == [1, 4, 0, 5]  # never negative, sums to the +Inf count


@given(st.lists(st.integers(0, 50), min_size=2, max_size=8), st.floats(0.01, 0.99))
def test_quantile_stays_inside_the_histograms_range(counts: list[int], q: float) -> None:
    bounds = (*(float(b) for b in range(1, len(counts))), INF)
    value = histogram_quantile(q, bounds, counts)
    if sum(counts) == 0:
        assert math.isnan(value)
    else:
        assert 0.0 <= value <= bounds[-2]


@settings(deadline=None)  # the first call imports numpy
@given(st.integers(1, 500), st.integers(0, 500), st.integers(1, 500))
def test_thinning_a_ratio_keeps_it_a_ratio_of_the_kept_events(events: int, hits: int, keep: int) -> None:
    hits = min(hits, events)
    value = thin_ratio(events, hits, keep, rng_for([events, hits, keep]))
    kept = min(keep, events)
    assert 0.0 <= value <= 1.0
    assert value * kept == pytest.approx(round(value * kept))  # a whole number of hits
    if keep >= events:
        assert value == pytest.approx(hits / events)


@settings(deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=10), st.integers(0, 200))
def test_thinning_buckets_draws_without_replacement(counts: list[int], keep: int) -> None:
    drawn = thin_buckets(counts, keep, rng_for([float(c) for c in counts]))
    assert sum(drawn) == min(keep, sum(counts))
    assert all(0 <= d <= c for d, c in zip(drawn, counts, strict=True))


def test_thinned_baseline_has_the_canarys_distribution() -> None:
    # a 1 % error ratio on 1,000 baseline events thinned to 50: mean 1 %, variance of a 50-event binomial
    rng = rng_for([1.0])
    values = [thin_ratio(1000, 10, 50, rng) for _ in range(4000)]
    assert statistics.fmean(values) == pytest.approx(0.01, rel=0.08)
    # hypergeometric variance: p(1-p)/n * (N-n)/(N-1)
    expected = 0.01 * 0.99 / 50 * (950 / 999)
    assert statistics.pvariance(values) == pytest.approx(expected, rel=0.12)


def test_outliers_use_kayentas_fence_but_never_empty_a_zero_iqr_sample() -> None:
    values = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 50.0]
    kept, dropped = remove_outliers(values)
    assert dropped == 1 and 50.0 not in kept
    zeros = [0.0] * 20 + [0.05, 0.1]
    assert remove_outliers(zeros) == (zeros, 0)


def test_rank_test_matches_a_brute_force_hodges_lehmann_interval() -> None:
    rng = random.Random(7)
    x = [rng.gauss(1.0, 1.0) for _ in range(25)]
    y = [rng.gauss(0.0, 1.0) for _ in range(30)]
    test = rank_test(x, y, 0.98)
    differences = sorted(a - b for a, b in itertools.product(x, y))
    assert test.shift == pytest.approx(statistics.median(differences))
    assert test.low < test.shift < test.high
    assert test.low in differences and test.high in differences
    assert test.p_value < 0.02 and test.direction == "increase"
    # U counts the pairs where the canary is higher
    assert test.u == sum(1 for a, b in itertools.product(x, y) if a > b)


def test_rank_test_interval_covers_the_true_shift_at_its_level() -> None:
    rng = random.Random(11)
    misses = 0
    runs = 300
    for _ in range(runs):
        x = [rng.expovariate(1.0) + 0.3 for _ in range(20)]
        y = [rng.expovariate(1.0) for _ in range(20)]
        test = rank_test(x, y, 0.90)
        misses += not (test.low <= 0.3 <= test.high)
    assert misses / runs == pytest.approx(0.10, abs=0.05)


def test_identical_samples_are_no_difference() -> None:
    test = rank_test([0.0] * 12, [0.0] * 12, 0.98)
    assert test.p_value == 1.0 and test.direction == "none" and test.shift == 0.0
