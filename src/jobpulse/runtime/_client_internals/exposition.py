"""What the exposition renderer reads: a registry's collectors, a wrapper's layout, a child's value cells."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as _metrics
from prometheus_client import validation as _validation
from prometheus_client import values as _values
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as _om_exposition

# prometheus_client has no annotations on these: typed as Any once, here
_METRICS: Any = _metrics


#: The metric classes whose samples the renderer produces itself, by exact class (a subclass may override anything).
#: ``Info`` and ``Enum`` (rare, a few samples) go through ``collect()`` like custom collectors.
STANDARD_KINDS: dict[type, str] = {
    _metrics.Counter: "counter",
    _metrics.Gauge: "gauge",
    _metrics.Summary: "summary",
    _metrics.Histogram: "histogram",
}
#: Methods whose override on an instance (``Gauge.set_function`` replaces ``_child_samples``) changes the samples.
_SAMPLE_METHODS = frozenset(("collect", "_samples", "_multi_samples", "_child_samples", "_get_metric"))
_MutexValue: Any = _values.MutexValue

#: A ``MutexValue``'s float and exemplar, read without its lock: one attribute load is atomic under the GIL, and
#: prometheus_client's own collect takes the lock per value, so it gives no consistency across values either.
read_value: Callable[[Any], float] = operator.attrgetter("_value")
read_exemplar: Callable[[Any], Any] = operator.attrgetter("_exemplar")
read_created: Callable[[Any], float] = operator.attrgetter("_created")

# the encoders' own name-escaping helpers (label *values* are escaped by jobpulse: three replacements)
escape_name: Callable[[str, str, Callable[[str, int], bool]], str] = _om_exposition._escape
is_legacy_labelname_rune: Callable[[str, int], bool] = _om_exposition._is_legacy_labelname_rune
is_valid_legacy_metric_name: Callable[[str], bool] = _validation._is_valid_legacy_metric_name


class Family(NamedTuple):
    """What a standard metric wrapper exposes, read once: name, help, type, unit, label names and layout."""

    kind: str
    name: str
    documentation: str
    unit: str
    labelnames: tuple[str, ...]
    upper_bounds: tuple[float, ...]  # histograms only


def use_created() -> bool:
    """Whether counters, histograms and summaries expose ``_created`` (``disable_created_metrics()``)."""
    return bool(_METRICS._use_created)


def registry_collectors(registry: object) -> tuple[Metric | None, list[Any]] | None:
    """(target_info family, collectors in order) as ``CollectorRegistry.collect`` sees them; None for other objects.

    The snapshot is taken under the registry's lock, as ``collect()`` takes it.
    """
    if not isinstance(registry, CollectorRegistry) or type(registry).collect is not CollectorRegistry.collect:
        return None
    reg: Any = registry
    with reg._lock:
        collectors = list(reg._collector_to_names)
        target = reg._target_info_metric() if reg._target_info else None
    return target, collectors


def restricted_collectors(registry: object, names: frozenset[str]) -> tuple[Metric | None, list[Any]] | None:
    """The collectors ``registry.restricted_registry(names)`` would ask, in registration order; None if not a registry.

    prometheus_client's ``RestrictedRegistry`` walks them as a set (an order that changes from run to run); here they
    come in the order they were registered, so the same request gives the same bytes.
    """
    if not isinstance(registry, CollectorRegistry):
        return None
    reg: Any = registry
    with reg._lock:
        by_name = reg._names_to_collectors
        wanted = {id(by_name[n]) for n in names if n != "target_info" and n in by_name}
        wanted.update(id(c) for c in getattr(reg, "_collectors_without_names", ()))  # prometheus_client >= 0.24
        collectors = [c for c in reg._collector_to_names if id(c) in wanted]
        target = reg._target_info_metric() if "target_info" in names and reg._target_info else None
    return target, collectors


def registered(registry: object, name: str) -> Any:
    """The collector registered under sample name ``name`` in a ``CollectorRegistry`` (None if none)."""
    by_name: Mapping[str, Any] = getattr(registry, "_names_to_collectors", {})
    return by_name.get(name)


def label_names(metric: Any) -> tuple[str, ...]:
    """A prometheus_client metric wrapper's label names."""
    return tuple(metric._labelnames)


def overrides_samples(obj: object) -> bool:
    """The instance replaces a sample method (``Gauge.set_function`` replaces ``_child_samples``)."""
    attributes = getattr(obj, "__dict__", None)
    return attributes is None or not _SAMPLE_METHODS.isdisjoint(attributes)


def standard_family(collector: object) -> Family | None:
    """The layout of a Counter/Gauge/Summary/Histogram as prometheus_client made it; None for anything else."""
    kind = STANDARD_KINDS.get(type(collector))
    if kind is None:
        return None
    c: Any = collector
    if overrides_samples(c) or c._labelvalues:
        return None
    bounds = tuple(c._upper_bounds) if kind == "histogram" else ()
    return Family(kind, c._name, c._documentation, c._unit, tuple(c._labelnames), bounds)


def children(collector: Any) -> list[tuple[tuple[str, ...], Any]]:
    """(label values, child) of a standard wrapper, copied under its lock as ``_multi_samples`` does."""
    if not collector._labelnames:
        return [((), collector)]
    with collector._lock:
        return list(collector._metrics.items())


def child_samples(child: Any) -> Iterable[tuple[str, dict[str, str], float, Any, Any, Any]]:
    """(suffix, labels, value, timestamp, exemplar, native histogram) of one child, from prometheus_client itself."""
    samples: Iterable[tuple[str, dict[str, str], float, Any, Any, Any]] = child._child_samples()
    return samples


def cells(kind: str, child: Any) -> tuple[Any, ...]:
    """The value objects a child's samples read, in sample order (histogram: buckets then sum)."""
    if kind in ("counter", "gauge"):
        return (child._value,)
    if kind == "summary":
        return (child._count, child._sum)
    if kind == "histogram":
        return (*child._buckets, child._sum)
    raise ValueError(f"no value cells for {kind}")


def plain_cells(values: tuple[Any, ...]) -> bool:
    """All cells are in-process ``MutexValue``s (their ``_value`` may be read directly); else use ``get()``."""
    return all(type(v) is _MutexValue for v in values)
