"""Merged sums never fail a scrape: +inf with -inf is NaN, an overflow is inf (as prometheus_client gives)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jobpulse.runtime.multiprocess import multiprocess_registry
from jobpulse.runtime.multiprocess.merge import exact_sum, round_up_sum, write_db


def key(metric: str, labels: dict[str, str] | None = None) -> str:
    return json.dumps([metric, metric, labels or {}, "help"])


@pytest.mark.parametrize(
    ("values", "expected"),
    [([math.inf, -math.inf], math.nan), ([1e308, 1e308], math.inf), ([0.1, 0.2, 0.3], 0.6), ([], 0.0)],
)
def test_exact_sum(values: list[float], expected: float) -> None:
    got = exact_sum(values)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    round_up = round_up_sum(values)
    assert round_up == got or math.isnan(round_up) or round_up == math.nextafter(got, math.inf)


def test_a_scrape_survives_infinities_across_processes(tmp_path: Path) -> None:
    write_db(tmp_path / "gauge_sum_101.db", {key("temperature"): (math.inf, 0.0)})
    write_db(tmp_path / "gauge_sum_102.db", {key("temperature"): (-math.inf, 0.0)})
    write_db(tmp_path / "counter_101.db", {key("bytes_total"): (1e308, 0.0)})
    write_db(tmp_path / "counter_102.db", {key("bytes_total"): (1e308, 0.0)})
    registry, _ = multiprocess_registry(tmp_path)
    assert math.isnan(registry.get_sample_value("temperature") or 0.0)
    assert registry.get_sample_value("bytes_total") == math.inf
