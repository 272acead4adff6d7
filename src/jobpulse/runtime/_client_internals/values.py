"""Direct updates of a bound child's values (the job tracker's hot path): ``_value``, ``_buckets``, ``_sum``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def adder(child: Any) -> Callable[[float], None] | None:
    """``add(amount)`` for a counter or gauge child: its value's own ``inc``, skipping the wrapper's checks.

    A child returned by ``.labels()`` is always observable and the tracker's amounts are ±1, so
    prometheus_client's checks can never fire there. Anything unusual (a ``mostrecent`` gauge, a value without
    ``inc``) gets the public methods.
    """
    if child is None:
        return None
    value = getattr(child, "_value", None)
    if value is None or getattr(child, "_is_most_recent", False) or not hasattr(value, "inc"):
        return lambda amount: child.inc(amount) if amount >= 0 else child.dec(-amount)
    inc: Callable[[float], None] = value.inc
    return inc


def gauge_value(child: Any) -> float:
    """A gauge child's current value (what DogStatsD is sent after ``inc``/``dec``/``set``)."""
    value = getattr(child, "_value", None)
    return float(value.get()) if value is not None and hasattr(value, "get") else math.nan


def observer(child: Any) -> Callable[[float], None] | None:
    """``observe(amount)`` for a histogram child, as prometheus_client does it, with a binary search."""
    import bisect

    if child is None:
        return None
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if not bounds or not buckets or total is None or len(bounds) != len(buckets) or bounds[-1] != math.inf:
        observe: Callable[[float], None] = child.observe
        return observe
    add_sum = total.inc
    incs = tuple(bucket.inc for bucket in buckets)

    def fast_observe(amount: float, _bisect: Callable[..., int] = bisect.bisect_left) -> None:
        if amount != amount:  # NaN: prometheus_client adds it to the sum and to no bucket
            add_sum(amount)
            return
        add_sum(amount)
        incs[_bisect(bounds, amount)](1)

    return fast_observe
