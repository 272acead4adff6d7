"""LLM calls and their cost: requests, latency, tokens, errors by type, cost from the spec's price table, cache.

::

    llm = LLMTelemetry(telemetry)             # the spec's `llm` section says which metrics receive what
    llm.record_llm_call("gpt-4o", "script", prompt_tokens=812, completion_tokens=240, latency=1.9)
    llm.record_llm_call("gpt-4o", "script", latency=30.0, error_type=TimeoutError)
    llm.cache_hit("gpt-4o", "script", prompt_tokens=812, completion_tokens=240)   # counts the savings
    llm.cache_miss("gpt-4o", "script")

Every label value goes through the catalogue's bounds (an unknown model or error type becomes ``__other__``
and is counted), and recording never raises into the application unless the telemetry is ``strict``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from jobpulse.runtime.metrics import Instrument, Telemetry
from jobpulse.spec.model import Metric
from jobpulse.spec.wire_llm import LLMConfig

__all__ = ["LLMTelemetry", "error_type_name", "llm_telemetry"]

log = logging.getLogger("jobpulse.llm")

_INTERNAL: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Counter, Counter]] = weakref.WeakKeyDictionary()
_INTERNAL_LOCK = threading.Lock()
_MAX_WARNED = 100


def _internal(registry: CollectorRegistry | None) -> tuple[Counter, Counter]:
    """jobpulse's own counters for this registry: unpriced calls and recording errors (created once)."""
    key = registry if registry is not None else CollectorRegistry(auto_describe=False)
    with _INTERNAL_LOCK:
        found = _INTERNAL.get(key)
        if found is None:
            found = _INTERNAL[key] = (
                Counter(
                    "jobpulse_llm_unpriced_calls",
                    "LLM calls whose model has no price in the spec's llm.prices (no cost recorded).",
                    registry=registry,
                ),
                Counter(
                    "jobpulse_llm_record_errors",
                    "LLM calls that could not be recorded (bad arguments); the application was not interrupted.",
                    registry=registry,
                ),
            )
        return found


def error_type_name(error: object) -> str:
    """``TimeoutError`` for an exception class or instance; a string is kept as it is."""
    if isinstance(error, BaseException):
        return type(error).__name__
    if isinstance(error, type) and issubclass(error, BaseException):
        return error.__name__
    return str(error)


class _Role:
    """One target metric and how to fill its labels from a call's fields."""

    __slots__ = ("fields", "instrument", "metric", "scale")

    def __init__(self, instrument: Instrument, token_label: str | None) -> None:
        self.instrument = instrument
        self.metric: Metric = instrument.metric
        self.fields = tuple("kind" if name == token_label else name for name in self.metric.label_names)
        self.scale = self.metric.unit_scale

    def child(self, values: dict[str, str]) -> Any:
        return self.instrument.child(tuple(values[f] for f in self.fields))


class LLMTelemetry:
    """The runtime side of the spec's ``llm`` section, on a :class:`~jobpulse.runtime.metrics.Telemetry`."""

    def __init__(self, telemetry: Telemetry, config: LLMConfig | None = None) -> None:
        config = config or telemetry.spec.llm
        if config is None:
            raise ValueError("the spec has no `llm` section: add one to say which metrics receive LLM calls")
        self.telemetry = telemetry
        self.config = config
        self.roles: dict[str, _Role] = {
            role: _Role(telemetry.metric(metric.name), config.token_label) for role, metric in config.metrics.items()
        }
        self._unpriced, self._errors = _internal(telemetry.registry)
        self._warned: set[str] = set()
        # cost per token, already in each money metric's unit
        self._money_scale = {
            role: config.money_scale(self.roles[role].metric)
            for role in ("cost", "cache_savings")
            if role in self.roles
        }

    # -- prices -------------------------------------------------------------------------------------------
    def price(self, model: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> float | None:
        """What a call costs in the price table's currency, or ``None`` if the model has no price."""
        prices = self.config.prices.get(model)
        if prices is None:
            return None
        prompt, completion = prices
        return (prompt * prompt_tokens + completion * completion_tokens) / self.config.per_tokens

    # -- recording ----------------------------------------------------------------------------------------
    def record_llm_call(
        self,
        model: str,
        operation: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency: float | None = None,
        status: str | None = None,
        error_type: object = None,
    ) -> float | None:
        """Record one LLM call; returns its cost in the price table's currency (``None`` if unpriced).

        ``status`` defaults to the spec's success status, or its error status when ``error_type`` is given
        (an exception, an exception class or a string). ``latency`` is in seconds.
        """
        try:
            return self._record(model, operation, prompt_tokens, completion_tokens, latency, status, error_type)
        except Exception:
            if self.telemetry.strict:
                raise
            self._errors.inc()
            log.warning("jobpulse: recording an LLM call of %r failed", model, exc_info=True)
            return None

    def _record(
        self,
        model: str,
        operation: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency: float | None,
        status: str | None,
        error_type: object,
    ) -> float | None:
        if prompt_tokens < 0 or completion_tokens < 0:
            raise ValueError(f"token counts must not be negative, got {prompt_tokens} and {completion_tokens}")
        if latency is not None and latency < 0:
            raise ValueError(f"latency must not be negative, got {latency}")
        failed = error_type is not None or (status is not None and status == self.config.error_status)
        if status is None:
            status = self.config.error_status if failed else self.config.success_status
        values = {
            "model": model,
            "operation": operation,
            "status": status,
            "error_type": error_type_name(error_type) if error_type is not None else "",
        }
        roles = self.roles
        if (role := roles.get("requests")) is not None:
            role.child(values).inc()
        if latency is not None and (role := roles.get("latency")) is not None:
            role.child(values).observe(latency * role.scale)
        if failed and (role := roles.get("errors")) is not None:
            if not values["error_type"]:
                values["error_type"] = "unknown"
            role.child(values).inc()
        if (role := roles.get("tokens")) is not None and (prompt_tokens or completion_tokens):
            if "kind" in role.fields:
                for kind, count in (("prompt", prompt_tokens), ("completion", completion_tokens)):
                    if count:
                        self._tokens(role, {**values, "kind": kind}, count)
            else:
                self._tokens(role, values, prompt_tokens + completion_tokens)
        cost = self.price(model, prompt_tokens, completion_tokens)
        if cost is None:
            if prompt_tokens or completion_tokens:
                self._note_unpriced(model)
        elif cost and (role := roles.get("cost")) is not None:
            role.child(values).inc(cost * self._money_scale["cost"])
        return cost

    @staticmethod
    def _tokens(role: _Role, values: dict[str, str], count: int) -> None:
        child = role.child(values)
        if role.metric.type == "histogram":
            child.observe(count)
        else:
            child.inc(count)

    def cache_hit(
        self, model: str = "", operation: str = "", prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> float | None:
        """A response served from the cache: counts the hit and, given the tokens the call would have used,
        the money saved (returned, in the price table's currency)."""
        try:
            values = {"model": model, "operation": operation}
            if (role := self.roles.get("cache_hits")) is not None:
                role.child(values).inc()
            saved = self.price(model, prompt_tokens, completion_tokens)
            if saved and (role := self.roles.get("cache_savings")) is not None:
                role.child(values).inc(saved * self._money_scale["cache_savings"])
            return saved
        except Exception:
            if self.telemetry.strict:
                raise
            self._errors.inc()
            log.warning("jobpulse: recording a cache hit of %r failed", model, exc_info=True)
            return None

    def cache_miss(self, model: str = "", operation: str = "") -> None:
        """A lookup that needed an LLM call (record the call itself with :meth:`record_llm_call`)."""
        try:
            if (role := self.roles.get("cache_misses")) is not None:
                role.child({"model": model, "operation": operation}).inc()
        except Exception:
            if self.telemetry.strict:
                raise
            self._errors.inc()
            log.warning("jobpulse: recording a cache miss of %r failed", model, exc_info=True)

    def _note_unpriced(self, model: str) -> None:
        self._unpriced.inc()
        if model not in self._warned and len(self._warned) < _MAX_WARNED:
            self._warned.add(model)
            log.warning("jobpulse: model %r has no price in the spec's llm.prices: its calls cost nothing here", model)


_BY_TELEMETRY: weakref.WeakKeyDictionary[Telemetry, LLMTelemetry] = weakref.WeakKeyDictionary()


def llm_telemetry(telemetry: Telemetry) -> LLMTelemetry:
    """The :class:`LLMTelemetry` of ``telemetry`` (one per telemetry, created on first use)."""
    found = _BY_TELEMETRY.get(telemetry)
    if found is None:
        found = _BY_TELEMETRY[telemetry] = LLMTelemetry(telemetry)
    return found
