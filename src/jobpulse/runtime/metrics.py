"""The spec's metric catalogue on prometheus_client, with validated, bounded and cached labels.

A label value outside the allowed set, or beyond a label's distinct-value budget, is replaced by
``__other__`` and counted in ``jobpulse_label_overflow_total{metric,label}`` — instrumentation never
raises into the host application unless ``strict=True`` (meant for tests).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from jobpulse.runtime.labels import (
    OTHER,
    LabelBudget,
    LabelError,
    evicted_jobs_counter,
    key_getter,
    label_errors_counter,
    label_texts,
    overflow_counter,
)
from jobpulse.runtime.multiprocess import gauge_modes
from jobpulse.runtime.track import Track, resolve_track
from jobpulse.runtime.tracker import JobTracker
from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Metric, Spec

if TYPE_CHECKING:
    from jobpulse.runtime.exposition import MetricsApp

__all__ = ["OTHER", "Instrument", "LabelError", "Telemetry", "UpdateSink", "key_getter"]
_COLLECTORS: dict[str, type[Counter] | type[Gauge] | type[Histogram]] = {
    "counter": Counter,
    "gauge": Gauge,
    "histogram": Histogram,
}


class UpdateSink(Protocol):
    """Receives every update of the catalogue's metrics: it wraps each child once, when it is created."""

    def wrap(self, metric: Metric, child: Any, values: tuple[str, ...], registry: Any) -> Any: ...

    def flush(self) -> None: ...


class Instrument:
    """One catalogue metric: ``labels(**values)`` returns a cached prometheus_client child."""

    def __init__(self, metric: Metric, collector: Any, telemetry: Telemetry) -> None:
        self.metric = metric
        self.collector = collector
        self.names = metric.label_names
        self._names_set = frozenset(self.names)
        self._telemetry = telemetry
        self._n = len(self.names)
        self._key = key_getter(self.names)
        # clean label values, by their text (label_text) → child; a metric without labels is its own child
        self._children: dict[tuple[object, ...], Any] = (
            {} if self.names else {(): telemetry.wrap(metric, collector, ())}
        )
        # label values of str and int only (200, not "200") → child: one entry per text, so bounded alike
        self._int_children: dict[tuple[object, ...], Any] = {}
        # bounded values containing __other__ → child (finite: at most the budgets' product)
        self._other_children: dict[tuple[str, ...], Any] = {}
        self._budgets = {
            label.name: LabelBudget(label.max_values or 0) for label in metric.labels if label.values is None
        }
        self._lock = threading.Lock()
        # the process's rollout track, for calls that leave its label out (jobpulse.runtime.track); unset, leaving
        # the label out is the label error it always was
        track = telemetry.track
        self._track: tuple[str, str] | None = (
            (track.label, track.value) if track.is_set and track.label in self._names_set else None
        )

    def labels(self, **values: object) -> Any:
        """The child for these label values; unknown label names raise in strict mode only."""
        if len(values) == self._n:
            try:
                get_key = self._key  # a local: `obj.attr()` on an instance attribute is not specialised
                key = get_key(values)
            except KeyError:
                key = self._slow_key(values)
        else:
            key = self._slow_key(values)
        try:
            child = self._children.get(key)
        except Exception:  # an unhashable value (or its __hash__/__eq__ raises): resolve() counts it as overflow
            child = None
        if child is None:
            child, _ = self.resolve(key)
        return child

    def child(self, values: tuple[object, ...]) -> Any:
        """The child for label values given in the metric's label order (the fast path)."""
        try:
            child = self._children.get(values)
        except Exception:
            child = None
        if child is None:
            child, _ = self.resolve(values)
        return child

    def resolve(self, values: tuple[object, ...]) -> tuple[Any, bool]:
        """Bound the values, return (child, clean); a clean child is cached for next time.

        The cache is keyed by the values' text (:func:`~jobpulse.runtime.labels.label_text`), so values that are
        not strings (``float("nan")``, ``200``) find their child there without growing it; a value that cannot
        be a label value (unhashable, or its ``str()`` raises) counts as overflow.
        """
        if not self.names:
            return self._children[()], True
        if len(values) != len(self.names):
            raise LabelError(f"{self.metric.name} takes {len(self.names)} label values, got {len(values)}")
        # Children are cached by the values' text. Strings are their own text; a tuple of strings and ints
        # (``status=200``) has a cache of its own, since an int never equals a str (while True == 1 == 1.0, and
        # NaN equals nothing: those are only looked up by their text).
        texts: tuple[str | None, ...] = values  # type: ignore[assignment]
        mixed = exotic = False
        for value in values:
            kind = type(value)
            if kind is not str:
                mixed = True
                if kind is not int:
                    exotic = True
                    break
        if mixed:
            if not exotic:
                child = self._int_children.get(values)
                if child is not None:
                    return child, True
            texts = label_texts(values)
            child = self._children.get(texts)
            if child is not None:
                if not exotic:
                    self._int_children[values] = child
                return child, True
        bounded: list[str] = []
        clean = True
        with self._lock:
            for label, raw, value in zip(self.metric.labels, values, texts, strict=True):
                if value is not None and (
                    value in label.values if label.values is not None else self._budgets[label.name].admit(value)
                ):
                    bounded.append(value)
                else:
                    clean = False
                    self._telemetry.overflow(self.metric.name, label.name, value, raw)
                    bounded.append(OTHER)
        if clean:
            key = tuple(bounded)
            child = self._telemetry.wrap(self.metric, self.collector.labels(*bounded), key)
            self._children[key] = child
            if mixed and not exotic:
                self._int_children[values] = child
            return child, True
        key = tuple(bounded)
        child = self._other_children.get(key)
        if child is None:
            child = self._telemetry.wrap(self.metric, self.collector.labels(*bounded), key)
            self._other_children[key] = child
        return child, False

    def _slow_key(self, values: dict[str, object]) -> tuple[object, ...]:
        """Not exactly the metric's label names: add the rollout track if it was left out, else fix them up."""
        track = self._track
        if track is not None and track[0] not in values:
            values = {**values, track[0]: track[1]}
            if len(values) == self._n:
                try:
                    return self._key(values)
                except KeyError:
                    pass
        return self._fix_names(values)

    def _fix_names(self, values: dict[str, object]) -> tuple[object, ...]:
        given = set(values)
        missing = sorted(self._names_set - given)
        extra = sorted(given - self._names_set)
        message = (
            f"{self.metric.name} takes labels ({', '.join(self.names) or 'none'}); "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {', '.join(extra)}" if extra else "")
        )
        if self._telemetry.strict:
            raise LabelError(message)
        self._telemetry.label_errors.labels(self.metric.name).inc()
        return tuple(values.get(name, "") for name in self.names)

    # conveniences for call sites that do not keep children
    def inc(self, amount: float = 1.0, **labels: object) -> None:
        self.labels(**labels).inc(amount)

    def dec(self, amount: float = 1.0, **labels: object) -> None:
        self.labels(**labels).dec(amount)

    def set(self, value: float, **labels: object) -> None:
        self.labels(**labels).set(value)

    def observe(self, value: float, **labels: object) -> None:
        self.labels(**labels).observe(value)


class Telemetry:
    """The runtime side of a spec: every catalogue metric registered in one registry."""

    def __init__(
        self,
        spec: Spec,
        *,
        registry: CollectorRegistry | None = REGISTRY,
        strict: bool = False,
        sinks: Sequence[UpdateSink] = (),
        track: str | None = None,
    ) -> None:
        """``sinks`` also receive every update (e.g. :class:`jobpulse.runtime.dogstatsd.DogStatsdSink`).

        ``track`` is the rollout track this process serves (``"canary"``, ``"baseline"``; default
        ``$JOBPULSE_TRACK``, ``""`` for none whatever the environment says): metrics that declare the spec's
        rollout label get it from the HTTP middleware, the job tracker and :meth:`Instrument.labels`
        (see :mod:`jobpulse.runtime.track`).
        """
        self.spec = spec
        self.track: Track = resolve_track(spec.track_label, track)
        self.sinks = tuple(sinks)
        self.registry = registry
        self.strict = strict
        self.overflows = overflow_counter(registry)
        self.label_errors = label_errors_counter(registry)
        self.evicted_jobs = evicted_jobs_counter(registry)
        self._overflow_children: dict[tuple[str, str], Any] = {}
        self.instruments: dict[str, Instrument] = {}
        # multi-process mode of each gauge (ignored in a single process): see jobpulse.runtime.multiprocess
        modes = gauge_modes(spec)
        for metric in spec.metrics.values():
            kwargs: dict[str, Any] = {"registry": registry}
            if metric.buckets is not None:
                kwargs["buckets"] = metric.buckets
            if metric.type == "gauge":
                kwargs["multiprocess_mode"] = modes[metric.name]
            collector = _COLLECTORS[metric.type](metric.name, metric.help, metric.label_names, **kwargs)
            self.instruments[metric.name] = Instrument(metric, collector, self)
        self._trackers: dict[str, JobTracker] = {}

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        registry: CollectorRegistry | None = REGISTRY,
        strict: bool = False,
        sinks: Sequence[UpdateSink] = (),
        track: str | None = None,
    ) -> Telemetry:
        """Load a spec file and register its metrics in ``registry`` (``track``: see :meth:`__init__`)."""
        return cls(load_spec(path), registry=registry, strict=strict, sinks=sinks, track=track)

    def wrap(self, metric: Metric, child: Any, values: tuple[str, ...]) -> Any:
        """``child`` as every sink wants it (each update also sent elsewhere); ``child`` itself without sinks."""
        for sink in self.sinks:
            child = sink.wrap(metric, child, values, self.registry)
        return child

    def flush(self) -> None:
        """Send what the sinks buffered (DogStatsD flushes by itself, at the end of jobs and at exit)."""
        for sink in self.sinks:
            sink.flush()

    def metric(self, name: str) -> Instrument:
        try:
            return self.instruments[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in the spec's metric catalogue") from None

    __getitem__ = metric

    def job(self, name: str, **options: Any) -> JobTracker:
        """The tracker for a job lifecycle declared in the spec's ``jobs`` section."""
        if name not in self._trackers or options:
            if name not in self.spec.jobs:
                raise KeyError(f"job {name!r} is not in the spec; it has {', '.join(self.spec.jobs) or 'no jobs'}")
            tracker = JobTracker(self, self.spec.jobs[name], **options)
            if options:
                return tracker
            self._trackers[name] = tracker
        return self._trackers[name]

    def metrics_app(self, *, token: str | None = None) -> MetricsApp:
        """An ASGI app serving this registry at any path it is mounted on."""
        from jobpulse.runtime.exposition import MetricsApp

        return MetricsApp(self.registry or REGISTRY, token=token)

    def overflow(self, metric: str, label: str, value: str | None, raw: object = None) -> None:
        if self.strict:
            if value is None:
                raise LabelError(f"{metric}: a {type(raw).__name__} cannot be a value of label {label!r}")
            raise LabelError(f"{metric}: value {value[:64]!r} is outside the bound of label {label!r}")
        child = self._overflow_children.get((metric, label))
        if child is None:
            child = self._overflow_children[metric, label] = self.overflows.labels(metric, label)
        child.inc()
