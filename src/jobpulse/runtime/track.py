"""The rollout track this process serves (``canary``, ``baseline``, a version), for the metrics that declare it.

A staged rollout compares the new version with the one it replaces, so every compared metric needs a label
that tells them apart — the spec's rollout ``label``, ``track`` by default (docs/canary.md). The process says
which track it is once, ``Telemetry(spec, track="canary")`` or ``JOBPULSE_TRACK=canary`` in its environment,
and the HTTP middleware, the job tracker and ``Instrument.labels()`` put that value on every metric that
declares the label (and on no other). It is baked into the cached children when they are first bound, so the
per-request and per-job paths do exactly the same work with or without it.

The value is a label value like any other: bounded by each metric's declaration (outside a metric's allowed
set it becomes ``__other__`` and is counted in ``jobpulse_label_overflow_total``). Unset, metrics that declare
the label get the empty value, bounded the same way (a label with a budget keeps it: the series carry no track,
like a target outside the rollout; a label with an allowed set records ``__other__``), and a warning says which
metrics wanted one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["MAX_TRACK_LENGTH", "TRACK_ENV", "Track", "resolve_track", "warn_unset"]

#: The environment variable a deployment sets to name its track (``canary``, ``baseline``, ``v7``).
TRACK_ENV = "JOBPULSE_TRACK"
#: A track names a deployment, not data: anything longer is a mistake.
MAX_TRACK_LENGTH = 128
LOG = logging.getLogger("jobpulse.track")


@dataclass(frozen=True)
class Track:
    """The label (``track``) and this process's value of it (``""`` when no track was set)."""

    label: str
    value: str

    @property
    def is_set(self) -> bool:
        return bool(self.value)


def _check(value: object, source: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{source}: the rollout track is a string such as 'canary', got {type(value).__name__}")
    if len(value) > MAX_TRACK_LENGTH or not value.isprintable() or value != value.strip():
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"{source}: the rollout track must be at most {MAX_TRACK_LENGTH} printable characters without "
            f"surrounding spaces, such as 'canary' or 'baseline'; got {shown!r}"
        )
    return value


def resolve_track(label: str, track: str | None = None, environ: Mapping[str, str] | None = None) -> Track:
    """The track from ``track``, else from ``$JOBPULSE_TRACK`` (empty: unset); a malformed value is an error."""
    if track is not None:
        return Track(label, _check(track, "track="))
    value = (os.environ if environ is None else environ).get(TRACK_ENV, "")
    return Track(label, _check(value, f"${TRACK_ENV}") if value else "")


def warn_unset(track: Track, where: str, metrics: Iterable[str]) -> None:
    """Log once per component that metrics declaring the track label get no value."""
    names = sorted(set(metrics))
    if track.is_set or not names:
        return
    LOG.warning(
        "%s: %s declare%s the rollout label %r but no track is set (Telemetry(track=...) or $%s): "
        "they get an empty %s (__other__ where the label lists its allowed values)",
        where,
        ", ".join(names),
        "s" if len(names) == 1 else "",
        track.label,
        TRACK_ENV,
        track.label,
    )
