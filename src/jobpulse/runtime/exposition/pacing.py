"""Letting the event loop run while a render holds the GIL.

MetricsApp renders in a worker thread, but the thread holds the GIL while it works: a request arriving meanwhile
waits for the event loop's thread to get the GIL back, which CPython forces only after its switch interval
(5 ms). A render that briefly releases the GIL every half millisecond (``time.sleep(0)``: a system call that
hands the GIL to a thread waiting for it) keeps that wait short — measured in benchmarks/bench_exposition.py.
When no other thread is waiting, it costs one system call.
"""

from __future__ import annotations

import time

__all__ = ["CHECK_EVERY", "Pacer"]

#: how many children (or samples) a render goes through between two looks at the clock
CHECK_EVERY = 16


class Pacer:
    """Call every :data:`CHECK_EVERY` units of work; sleeps 0 s once ``interval`` seconds passed since the last."""

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._last >= self.interval:
            time.sleep(0)
            self._last = time.perf_counter()
