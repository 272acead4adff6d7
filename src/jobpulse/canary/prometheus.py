"""What the judge asks Prometheus, through the one shared client (:mod:`jobpulse.prometheus_api`).

Range and instant queries come back as a label set → ``[(time, value)]`` mapping (NaN values left out), the
shape :mod:`jobpulse.canary.fetch` adds up per interval. A Prometheus that cannot be asked, or refuses a query,
raises :class:`~jobpulse.prometheus_api.PrometheusAPIError`.
"""

from __future__ import annotations

import math
from typing import Any

from jobpulse.prometheus_api import PrometheusAPI, PrometheusAPIError

__all__ = ["PrometheusAPI", "PrometheusAPIError", "Series", "instant", "range_series"]

Series = dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]


def _key(series: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((series.get("metric") or {}).items()))


def range_series(api: PrometheusAPI, query: str, start: float, end: float, step: float) -> Series:
    """``/api/v1/query_range``: label set → [(time, value)], NaN values left out."""
    out: Series = {}
    for series in api.query_range(query, round(start, 3), round(end, 3), round(step, 3)):
        points = [(float(t), float(v)) for t, v in series.get("values", [])]
        out[_key(series)] = [(t, v) for t, v in points if not math.isnan(v)]
    return out


def instant(api: PrometheusAPI, query: str, time: float) -> Series:
    """``/api/v1/query`` (an instant vector): label set → [(time, value)]."""
    out: Series = {}
    for series in api.query(query, round(time, 3)):
        if not isinstance(series, dict):
            continue
        t, v = series.get("value", (time, "NaN"))
        out[_key(series)] = [(float(t), float(v))]
    return out
