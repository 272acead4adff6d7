"""Compressed time for demos and end-to-end tests: an app clock that runs ``speed`` times faster than real
time, and the rule file that goes with it.

An example app given ``SpeedClock(120)`` lives two virtual minutes in every real second: its simulated work
sleeps ``virtual / speed`` real seconds, and what it measures (job durations, heartbeat and tick timestamps)
is in virtual seconds. :func:`compress_rules` rewrites a built rule file for that world: every duration
(``for``, ``keep_firing_for``, range selectors, subqueries, ``offset``) is divided by ``speed`` and ``time()``
becomes the virtual now, so the seed's alerts — thresholds unchanged — fire in seconds instead of minutes.
Counts per window stay what the workload produces per real second; a test sends enough traffic for the
shortened windows to hold a meaningful number of events.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from decimal import Decimal
from typing import Any

from jobpulse.spec.slo import duration_seconds

__all__ = ["CLOCK_ENV", "SpeedClock", "compress_duration", "compress_expr", "compress_rules"]

#: how a clock reaches other processes (Celery workers): ``<speed>@<origin>``
CLOCK_ENV = "JOBPULSE_DEMO_CLOCK"

_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
#: a quoted string (left alone), a range/subquery ``[5m]``/``[1d:5m]``/``[1h:]``, an ``offset``, ``time()``
_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    rf"|\[\s*(?P<range>{_DURATION})\s*(?::\s*(?P<step>{_DURATION})?\s*)?\]"
    rf"|\boffset\s+(?P<sign>-?)\s*(?P<offset>{_DURATION})"
    r"|\btime\s*\(\s*\)"
)


class SpeedClock:
    """Virtual time running ``speed`` times faster than real time from ``origin`` (Unix seconds, default: now).

    ``time()`` is virtual wall time, ``monotonic()`` a virtual monotonic clock, ``sleep(s)`` waits ``s`` virtual
    seconds and ``real(s)`` says how many real seconds that is. ``SpeedClock()`` (speed 1) is plain time.
    """

    def __init__(self, speed: float = 1.0, origin: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = float(speed)
        self.origin = time.time() if origin is None else float(origin)
        self._mono_origin = time.monotonic()

    def __repr__(self) -> str:
        return f"SpeedClock(speed={self.speed:g}, origin={self.origin:.3f})"

    def time(self) -> float:
        now = time.time()
        return now if self.speed == 1.0 else self.origin + (now - self.origin) * self.speed

    def monotonic(self) -> float:
        now = time.monotonic()
        return now if self.speed == 1.0 else self._mono_origin + (now - self._mono_origin) * self.speed

    def real(self, seconds: float) -> float:
        """Real seconds that ``seconds`` of virtual time take."""
        return seconds / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def env(self) -> dict[str, str]:
        """Environment that makes :meth:`from_env` in a child process build the same clock."""
        return {CLOCK_ENV: f"{self.speed!r}@{self.origin!r}"}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SpeedClock:
        """The clock a parent process passed in ``$JOBPULSE_DEMO_CLOCK``; plain time without it."""
        raw = (os.environ if environ is None else environ).get(CLOCK_ENV, "")
        if not raw:
            return cls()
        speed, _, origin = raw.partition("@")
        try:
            return cls(float(speed), float(origin) if origin else None)
        except ValueError as exc:
            raise ValueError(f"${CLOCK_ENV}: expected <speed>@<origin>, got {raw!r}") from exc


def compress_duration(text: str, speed: float, *, minimum: float = 0.0) -> str:
    """``10m`` at speed 120 → ``5000ms`` (whole milliseconds, never below ``minimum`` seconds unless zero)."""
    seconds = float(duration_seconds(text))
    if seconds == 0:
        return "0s"
    millis = max(round(seconds / speed * 1000), round(minimum * 1000), 1)
    return f"{millis}ms"


def compress_expr(expr: str, speed: float, *, origin: float, min_range: float = 0.0) -> str:
    """``expr`` with every range, subquery and offset divided by ``speed`` and ``time()`` made virtual.

    Ranges are kept at least ``min_range`` seconds long, so that ``rate()`` still sees two samples.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("string") is not None:
            return match.group()
        if match.group("range") is not None:
            window = compress_duration(match.group("range"), speed, minimum=min_range)
            if ":" not in match.group():
                return f"[{window}]"
            step = match.group("step")
            return f"[{window}:{compress_duration(step, speed) if step else ''}]"
        if match.group("offset") is not None:
            return f"offset {match.group('sign')}{compress_duration(match.group('offset'), speed)}"
        # the evaluation time, seen from the app's virtual clock
        anchor = format(Decimal(repr(origin)), "f")
        return f"({anchor} + (time() - {anchor}) * {float(speed)!r})"

    return _TOKEN.sub(replace, expr)


def compress_rules(
    rules: dict[str, Any],
    speed: float,
    *,
    origin: float,
    interval: str,
    min_range: float = 0.0,
    min_for: float = 0.0,
) -> dict[str, Any]:
    """A copy of a rule file (parsed YAML) for a clock ``speed`` times real time, evaluated every ``interval``.

    ``min_range`` keeps ranges long enough for ``rate()``; ``min_for`` keeps a non-zero ``for`` over several
    scrapes (``for: 1m`` over 15 s scrapes means four failed scrapes, not the one that a 0.5 s ``for`` would be).
    """
    groups = []
    for group in rules.get("groups") or []:
        out = {**group, "interval": interval, "rules": []}
        for rule in group.get("rules") or []:
            rule = dict(rule)
            rule["expr"] = compress_expr(str(rule["expr"]), speed, origin=origin, min_range=min_range)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = compress_duration(str(rule[key]), speed, minimum=min_for)
            out["rules"].append(rule)
        groups.append(out)
    return {**rules, "groups": groups}
