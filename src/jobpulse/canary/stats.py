"""The statistics of a canary judgement: volume matching, outliers, Mann-Whitney U, Hodges-Lehmann.

Each side gives one sample per interval (an error ratio, or a latency quantile). The canary usually gets far
less traffic than the baseline, so its per-interval values are noisier and, for rare events, skewed (a ratio of
3 errors in 60 requests is 0 most minutes): a rank test on such unequal samples compares their shapes, not their
levels. So each interval's larger side is *thinned* to the smaller side's number of events first — a random
draw without replacement from its own events (hypergeometric for a ratio's numerator, multivariate
hypergeometric for a histogram's buckets). Under "no difference" both sides' samples then have exactly the same
distribution and the test's confidence level holds. The draw is seeded from the data, so the same data always
gives the same verdict.

scipy and numpy come with the ``canary`` extra and are imported when a judgement runs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobpulse.extras import require

#: Kayenta's outlier fence: points further than 3 x IQR outside the quartiles are dropped.
OUTLIER_FACTOR = 3.0


def _numpy() -> Any:
    return require("numpy", extra="canary", feature="jobpulse canary")


def _scipy_stats() -> Any:
    return require("scipy.stats", extra="canary", feature="jobpulse canary (the Mann-Whitney U test)")


def rng_for(*data: Sequence[float]) -> Any:
    """A numpy generator seeded from the data: the same samples always thin the same way."""
    digest = hashlib.sha256(repr([[round(v, 6) for v in d] for d in data]).encode()).digest()
    return _numpy().random.default_rng(int.from_bytes(digest[:8], "big"))


def thin_ratio(events: float, hits: float, keep: int, rng: Any) -> float:
    """``hits`` of ``events`` thinned to ``keep`` events: the hits among ``keep`` drawn without replacement."""
    total = max(round(events), 0)
    good = min(max(round(hits), 0), total)
    keep = min(keep, total)
    if keep <= 0:
        return math.nan
    if keep == total:
        return good / total
    drawn = int(rng.hypergeometric(good, total - good, keep))
    return drawn / keep


def bucket_counts(cumulative: Sequence[float]) -> list[int]:
    """Cumulative bucket counts (Prometheus ``le`` order, +Inf last) → per-bucket counts, as integers."""
    out: list[int] = []
    previous = 0
    for value in cumulative:
        current = max(round(value), previous)
        out.append(current - previous)
        previous = current
    return out


def thin_buckets(counts: Sequence[int], keep: int, rng: Any) -> list[int]:
    """Per-bucket counts thinned to ``keep`` observations drawn without replacement."""
    total = sum(counts)
    if keep >= total:
        return list(counts)
    drawn = rng.multivariate_hypergeometric(list(counts), keep)
    return [int(v) for v in drawn]


def histogram_quantile(quantile: float, bounds: Sequence[float], counts: Sequence[int]) -> float:
    """Prometheus's ``histogram_quantile`` on per-bucket counts (``bounds`` ascending, the last one +Inf)."""
    total = sum(counts)
    if total <= 0:
        return math.nan
    rank = quantile * total
    cumulative = 0
    for index, (bound, count) in enumerate(zip(bounds, counts, strict=True)):
        if cumulative + count >= rank and count > 0:
            if math.isinf(bound):
                return bounds[index - 1] if index > 0 else math.nan
            lower = bounds[index - 1] if index > 0 else (0.0 if bound > 0 else bound)
            return lower + (bound - lower) * (rank - cumulative) / count
        cumulative += count
    finite = [b for b in bounds if not math.isinf(b)]
    return finite[-1] if finite else math.nan


def remove_outliers(values: Sequence[float], factor: float = OUTLIER_FACTOR) -> tuple[list[float], int]:
    """Drop values beyond ``factor`` x IQR outside the quartiles; returns (kept, number dropped).

    Nothing is dropped when the IQR is 0: with mostly-zero error ratios every non-zero interval would be an
    "outlier", and those are exactly the intervals that matter.
    """
    if len(values) < 4:
        return list(values), 0
    np = _numpy()
    q1, q3 = (float(v) for v in np.percentile(values, [25, 75]))
    iqr = q3 - q1
    if iqr <= 0:
        return list(values), 0
    low, high = q1 - factor * iqr, q3 + factor * iqr
    kept = [v for v in values if low <= v <= high]
    return kept, len(values) - len(kept)


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of canary vs baseline, with the Hodges-Lehmann shift and its confidence interval."""

    u: float  # U of the canary sample
    p_value: float  # two-sided
    shift: float  # Hodges-Lehmann estimate of canary - baseline
    low: float  # confidence interval of the shift
    high: float
    canary_higher: float  # P(canary > baseline) + ½ P(tie): the common-language effect size

    @property
    def direction(self) -> str:
        """``increase`` when the canary tends to be higher, ``decrease`` when lower, else ``none``."""
        if self.canary_higher > 0.5:
            return "increase"
        if self.canary_higher < 0.5:
            return "decrease"
        return "none"


def rank_test(canary: Sequence[float], baseline: Sequence[float], confidence: float) -> RankTest:
    """Two-sided Mann-Whitney U (scipy) and the distribution-free Hodges-Lehmann interval at ``confidence``."""
    np = _numpy()
    stats = _scipy_stats()
    x = np.asarray(canary, dtype=float)
    y = np.asarray(baseline, dtype=float)
    n, m = len(x), len(y)
    if np.ptp(np.concatenate([x, y])) == 0:
        # every value is the same (e.g. no error anywhere): no difference, and scipy would divide by zero
        return RankTest(n * m / 2, 1.0, 0.0, 0.0, 0.0, 0.5)
    result = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    differences = np.sort(np.subtract.outer(x, y).ravel())
    shift = float(np.median(differences))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    # the C-th smallest and largest of the n·m differences (Hollander & Wolfe), C from the normal approximation
    c = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(c - 1, 0), (len(differences) - 1) // 2)
    low, high = float(differences[k]), float(differences[len(differences) - 1 - k])
    u = float(result.statistic)
    return RankTest(u, float(result.pvalue), shift, low, high, u / (n * m))
