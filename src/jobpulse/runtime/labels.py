"""Bounded label values, in one place: the allowed-set/budget rule, ``__other__`` and the overflow counter.

A label either lists its allowed values or has a budget of distinct values (``max_values``); a value outside
the set, or new once the budget is spent, is replaced by :data:`OTHER`. The spec's metrics
(:mod:`jobpulse.runtime.metrics`) count each replacement in ``jobpulse_label_overflow_total{metric,label}``;
the HTTP middleware bounds route templates and the heartbeat monitor bounds worker ids the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from operator import itemgetter

from prometheus_client import CollectorRegistry, Counter

__all__ = [
    "OTHER",
    "LabelBudget",
    "LabelError",
    "evicted_jobs_counter",
    "key_getter",
    "label_errors_counter",
    "label_text",
    "label_texts",
    "overflow_counter",
]

#: What a value outside its label's bound is replaced by.
OTHER = "__other__"


class LabelError(ValueError):
    """Wrong label names, or (in strict mode) a label value outside its bound."""


class LabelBudget:
    """At most ``limit`` distinct values; :meth:`admit` says whether a value is (or may become) one of them.

    Not locked: callers that share one budget between threads hold their own lock around :meth:`admit`.
    """

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[Hashable] = set()

    def admit(self, value: Hashable) -> bool:
        """True when ``value`` was seen before or the budget still has room (it is then remembered)."""
        seen = self.seen
        if value in seen:
            return True
        if len(seen) < self.limit:
            seen.add(value)
            return True
        return False

    def bound(self, value: str) -> str:
        """``value`` when the budget admits it, else :data:`OTHER`."""
        return value if self.admit(value) else OTHER

    def __len__(self) -> int:
        return len(self.seen)


def label_text(value: object) -> str | None:
    """The text a label value is recorded as, or ``None`` for a value that cannot be one.

    Caches are keyed by this text, never by the value itself: ``float("nan")`` is never equal to itself (a
    cache keyed by it grows on every call), and ``1``, ``1.0`` and ``True`` are equal in Python but are the
    label values ``"1"``, ``"1.0"`` and ``"True"``. An unhashable value (a list, a dict) or one whose ``str()``
    raises is ``None``: it counts as overflow rather than raising into the caller.
    """
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass: its text, whatever its __str__ or __eq__ say
    try:
        hash(value)
        return str(value)
    except Exception:
        return None


def label_texts(values: tuple[object, ...]) -> tuple[str | None, ...]:
    """:func:`label_text` of each value."""
    return tuple(map(label_text, values))


def overflow_counter(registry: CollectorRegistry | None) -> Counter:
    """``jobpulse_label_overflow_total{metric,label}``: values replaced by ``__other__``."""
    return Counter(
        "jobpulse_label_overflow",
        "Label values replaced by __other__ because they were outside the allowed set or over budget.",
        ["metric", "label"],
        registry=registry,
    )


def label_errors_counter(registry: CollectorRegistry | None) -> Counter:
    """``jobpulse_label_errors_total{metric}``: calls with wrong label names (fixed up unless strict)."""
    return Counter(
        "jobpulse_label_errors",
        "Calls that passed wrong label names to a metric (fixed up; strict mode raises instead).",
        ["metric"],
        registry=registry,
    )


def evicted_jobs_counter(registry: CollectorRegistry | None) -> Counter:
    """``jobpulse_tracker_evicted_jobs_total{job}``: unfinished jobs dropped from a tracker's bounded table."""
    return Counter(
        "jobpulse_tracker_evicted_jobs",
        "Unfinished jobs evicted from the job tracker's table (older than max_age, or past max_live).",
        ["job"],
        registry=registry,
    )


def key_getter(names: tuple[str, ...]) -> Callable[[Mapping[str, object]], tuple[object, ...]]:
    """A function ``mapping -> tuple of its values for names, in order``; KeyError if one is missing.

    ``operator.itemgetter`` does this in C for two or more names; it is the lookup on the hot paths of
    ``Instrument.labels`` and ``JobTracker.enqueue`` (see benchmarks/).
    """
    if len(names) >= 2:
        return itemgetter(*names)
    if len(names) == 1:
        (name,) = names

        def one(mapping: Mapping[str, object]) -> tuple[object, ...]:
            return (mapping[name],)

        return one

    def none(mapping: Mapping[str, object]) -> tuple[object, ...]:
        return ()

    return none
