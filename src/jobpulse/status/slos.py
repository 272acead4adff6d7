"""SLO attainment and remaining error budget, read from Prometheus (the recording rules ``jobpulse build`` writes)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from jobpulse.extras import require
from jobpulse.spec.slo import SLO

__all__ = ["PrometheusSLOs", "SLOReading"]

LOGGER = logging.getLogger("jobpulse.status")


@dataclass(frozen=True)
class SLOReading:
    name: str
    description: str
    objective: float  # percent
    period: str
    attainment: float | None  # percent of good events over the period; None: unknown
    budget_remaining: float | None  # 1 = untouched, 0 = spent, negative = overspent

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "objective": self.objective,
            "period": self.period,
            "attainment": None if self.attainment is None else round(self.attainment, 4),
            "error_budget_remaining": None if self.budget_remaining is None else round(self.budget_remaining, 4),
        }


class PrometheusSLOs:
    """Queries ``slo:sli_error:ratio_rate<period>`` and ``slo:error_budget:remaining`` per SLO, cached ``ttl`` s.

    Without a Prometheus URL (or when it cannot be reached) the readings are unknown, never an error.
    """

    def __init__(self, slos: list[SLO], url: str | None, *, ttl: float = 30.0, timeout: float = 2.0) -> None:
        self.slos = {s.name: s for s in slos}
        self.url = url.rstrip("/") if url else None
        self.ttl = ttl
        self.timeout = timeout
        self._cache: tuple[float, dict[str, SLOReading]] | None = None

    def clear(self) -> None:
        self._cache = None

    def unknown(self) -> dict[str, SLOReading]:
        return {name: self._reading(slo, None, None) for name, slo in self.slos.items()}

    @staticmethod
    def _reading(slo: SLO, error_ratio: float | None, remaining: float | None) -> SLOReading:
        attainment = None if error_ratio is None else 100.0 * (1.0 - error_ratio)
        return SLOReading(slo.name, slo.description, float(slo.objective), slo.period, attainment, remaining)

    async def readings(self) -> dict[str, SLOReading]:
        if self.url is None or not self.slos:
            return self.unknown()
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < self.ttl:
            return self._cache[1]
        try:
            readings = await self._query()
        except Exception as exc:  # the page still renders, with the SLOs unknown
            LOGGER.warning("reading SLOs from Prometheus failed: %s", type(exc).__name__)
            readings = self.unknown()
        self._cache = (now, readings)
        return readings

    async def _query(self) -> dict[str, SLOReading]:
        httpx = require("httpx", extra="http", feature="SLOs on the status page")
        out: dict[str, SLOReading] = {}
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout, trust_env=False) as client:
            for name, slo in self.slos.items():
                ratio = await _scalar(client, f'max(slo:sli_error:ratio_rate{slo.period}{{slo="{name}"}})')
                remaining = await _scalar(client, f'min(slo:error_budget:remaining{{slo="{name}"}})')
                out[name] = self._reading(slo, ratio, remaining)
        return out


async def _scalar(client: Any, query: str) -> float | None:
    response = await client.get("/api/v1/query", params={"query": query})
    response.raise_for_status()
    result = response.json()["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if value != value else value  # NaN: no data
