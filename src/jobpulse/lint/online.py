"""``jobpulse lint --online``: ask a live Prometheus which series exist (through :mod:`jobpulse.prometheus_api`)."""

from __future__ import annotations

from jobpulse.prometheus_api import PrometheusAPI as _PrometheusAPI
from jobpulse.prometheus_api import PrometheusAPIError

__all__ = ["OnlineError", "PrometheusAPI"]

#: Prometheus cannot be asked (unreachable, not Prometheus, or it refused the query).
OnlineError = PrometheusAPIError


class PrometheusAPI(_PrometheusAPI):
    """The shared API client, remembering each answer for one lint run (a selector is asked once)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__(url, timeout=timeout)
        self._cache: dict[str, bool] = {}

    def has_series(self, selector: str) -> bool:
        if selector not in self._cache:
            self._cache[selector] = super().has_series(selector)
        return self._cache[selector]
