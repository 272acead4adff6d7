"""Switching prometheus_client to multi-process mode, and the multi-process mode of each gauge."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from jobpulse.runtime._client_internals import use_multiprocess_values
from jobpulse.runtime.multiprocess.journal import JOURNAL

if TYPE_CHECKING:
    from jobpulse.spec.model import Spec


ENV = "PROMETHEUS_MULTIPROC_DIR"
GAUGE_MODES = frozenset(
    ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")
)
#: Gauge mode per job role: in-flight attempts belong to the process running them (gone when it dies);
#: queue depth is incremented by producers and decremented by workers, so it must outlive both.
ROLE_MODES = {"in_flight": "livesum", "queue_depth": "sum"}
#: Mode of a gauge the spec says nothing about: one value per live process would add a ``pid`` label
#: (unbounded across restarts); the largest live value is right for values every process observes alike.
DEFAULT_GAUGE_MODE = "livemax"

_overrides: dict[str, str] = {}
_overrides_lock = threading.Lock()


def setup_multiprocess(
    directory: str | Path | None = None, *, modes: Mapping[str, str] | None = None, wipe: bool = False
) -> Path:
    """Switch prometheus_client to multi-process mode, writing to ``directory``; returns the directory.

    Call it once in the parent before workers start (gunicorn's ``on_starting``/config file, the Celery
    master) and *before* any metric is created: ``PROMETHEUS_MULTIPROC_DIR`` is set so children inherit it.
    ``directory`` defaults to ``$PROMETHEUS_MULTIPROC_DIR``. ``modes`` overrides gauge modes by metric name
    (see :func:`gauge_modes`). ``wipe=True`` deletes stale ``*.db`` files of an earlier run — only do that
    at a fresh start of the whole host, when no worker of the old run is alive.
    """
    for name, mode in (modes or {}).items():
        if mode not in GAUGE_MODES:
            raise ValueError(f"gauge {name}: unknown multiprocess mode {mode!r}; use one of {sorted(GAUGE_MODES)}")
    path = directory_of(directory)
    path.mkdir(parents=True, exist_ok=True)
    if wipe:
        for stale in [*path.glob("*.db"), *path.glob("*.db.tmp")]:
            stale.unlink(missing_ok=True)
        (path / JOURNAL).unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    use_multiprocess_values()
    if modes:
        with _overrides_lock:
            _overrides.update(modes)
    return path


def gauge_modes(spec: Spec, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The multi-process mode of every gauge in the spec.

    ``livesum`` for a job's in-flight gauge, ``sum`` for its queue-depth gauge and for a gauge the ``llm``
    section counts money on, ``livemax`` otherwise; an override (``overrides`` or :func:`setup_multiprocess`'s
    ``modes``) wins.
    """
    modes: dict[str, str] = {}
    for metric in spec.metrics.values():
        if metric.type == "gauge":
            modes[metric.name] = DEFAULT_GAUGE_MODE
    for job in spec.jobs.values():
        for role, mode in ROLE_MODES.items():
            metric = getattr(job, role)
            if metric is not None:
                modes[metric.name] = mode
    if spec.llm is not None:  # money counted up on a gauge (seed 002's luneo_openai_cost_cents) is a running sum
        for role in ("cost", "cache_savings"):
            money = spec.llm.metrics.get(role)
            if money is not None and money.type == "gauge":
                modes[money.name] = "sum"
    with _overrides_lock:
        modes.update({k: v for k, v in _overrides.items() if k in modes})
    if overrides:
        modes.update({k: v for k, v in overrides.items() if k in modes})
    return modes


def gauge_mode(spec: Spec, name: str) -> str:
    """The multi-process mode of one gauge of the spec (what :class:`~jobpulse.runtime.metrics.Telemetry` uses)."""
    return gauge_modes(spec).get(name, DEFAULT_GAUGE_MODE)


def directory_of(directory: str | Path | None) -> Path:
    raw = directory if directory is not None else os.environ.get(ENV)
    if not raw:
        raise ValueError(f"give a directory or set {ENV}")
    return Path(raw)
