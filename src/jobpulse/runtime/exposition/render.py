"""The exposition of a registry, rendering only what changed since the last scrape.

prometheus_client's ``generate_latest`` rebuilds everything at every scrape: a ``Sample`` tuple and a labels
dict per sample, then per line a sort, the escaping of every label, a ``format`` call and a float
conversion — for 2,000 histogram children about 36,000 times. The :class:`Renderer` keeps, per format,
what does not change between scrapes:

- per standard metric (``Counter``, ``Gauge``, ``Summary``, ``Histogram``; exact classes) a plan
  (``families.py``) with its header, and per child the line prefixes (sample name and escaped, sorted label
  pairs), made once when the child is first seen; a histogram child gets one ``%``-template for all its
  bucket, count and sum lines;
- per child the values it last rendered and the text they gave: a child whose values did not change is
  one list comparison and the previous text;
- for every other collector (custom collectors, multi-process collectors, ``Info``, ``Enum``, gauges with
  ``set_function``, subclasses) the generic path: it calls ``collect()`` as prometheus_client does and
  renders the samples with line prefixes cached by (name, labels).

Values are read from the children's value cells directly (see ``_client_internals``) and formatted by
:func:`~jobpulse.runtime.exposition.style.go_float`. A child added, removed, replaced (removed and
re-added) or reset, a collector registered or unregistered between scrapes is seen at the next scrape; the
caches only hold what the last scrape saw (plus a bounded number of generic prefixes).

The output is byte for byte prometheus_client's (``tests/runtime/exposition/test_equivalence.py``), with one
deliberate difference: with a ``name[]`` filter, families come in registration order, where
prometheus_client's order varies from run to run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics

from jobpulse.runtime import _client_internals as internals
from jobpulse.runtime.exposition.families import Family
from jobpulse.runtime.exposition.negotiate import TEXT, Format
from jobpulse.runtime.exposition.pacing import CHECK_EVERY, Pacer
from jobpulse.runtime.exposition.style import MOVED_SUFFIXES, Style, go_float

__all__ = ["Renderer"]

_overridden = internals.overrides_samples
#: generic line prefixes kept at most: this many, or twice what the last scrape rendered if that is more
_PREFIX_FLOOR = 50_000
#: formats (format x escaping x created on/off) whose caches are kept: Prometheus asks for one, a person with curl
#: for another; a client cycling through all sixteen cannot make the process hold sixteen copies
MAX_FORMATS = 3


class _One:
    """A collector of one metric family, to hand a single family to prometheus_client's encoders."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> list[Metric]:
        return [self.metric]


class _State:
    """Everything cached for one (format, escaping, created on/off)."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.families: dict[Any, Family | None] = {}  # None: rendered through collect()
        self.prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}


class Renderer:
    """Renders a registry (or any collector) in a :class:`Format`, caching what does not change between scrapes.

    Thread-safe: renders of one renderer take turns. ``render`` may raise whatever a collector's ``collect()``
    raises, as prometheus_client's encoders do. ``release_gil_every`` (seconds; ``None``: never): how often a
    render lets other threads take the GIL (see ``pacing.py``).
    """

    def __init__(self, registry: Any, *, release_gil_every: float | None = 0.0005) -> None:
        self.registry = registry
        self._pace = Pacer(release_gil_every) if release_gil_every is not None else None
        self._lock = threading.Lock()
        self._states: dict[tuple[bool, str, bool], _State] = {}
        self._style: Style = Style(openmetrics=False)
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self._fmt = TEXT
        self._generic = 0

    def render(self, fmt: Format = TEXT, names: Iterable[str] | None = None) -> bytes:
        """The exposition in ``fmt``; with ``names``, only those samples (prometheus_client's ``name[]``)."""
        with self._lock:
            created = internals.use_created()
            key = (fmt.openmetrics, fmt.escaping, created)
            state = self._states.pop(key, None)
            if state is None:
                state = _State(Style(openmetrics=fmt.openmetrics, escaping=fmt.escaping))
                while len(self._states) >= MAX_FORMATS:  # the least recently asked-for format goes
                    del self._states[next(iter(self._states))]
            self._states[key] = state  # last: the most recently used
            self._style = state.style
            self._prefixes = state.prefixes
            self._fmt = fmt
            self._generic = 0
            if self._pace is not None:
                self._pace.start()
            out: list[str] = []
            if names is None:
                self._render_all(state, created, out)
            else:
                self._render_restricted(frozenset(names), out)
            if len(state.prefixes) > max(_PREFIX_FLOOR, 2 * self._generic):
                state.prefixes.clear()
            out.append(state.style.eof)
            return "".join(out).encode("utf-8")

    # -- walking the registry --------------------------------------------------------------------------------------
    def _render_all(self, state: _State, created: bool, out: list[str]) -> None:
        snapshot = internals.registry_collectors(self.registry)
        if snapshot is None:
            for metric in self.registry.collect():
                self.render_metric(metric, out)
            return
        target, collectors = snapshot
        if target is not None:
            self.render_metric(target, out)
        families = state.families
        for collector in collectors:
            if collector in families:
                plan = families[collector]
            else:
                shape = internals.standard_family(collector)
                plan = families[collector] = None if shape is None else Family(collector, shape, state.style, created)
            if plan is None or _overridden(collector):
                for metric in collector.collect():
                    self.render_metric(metric, out)
            else:
                moved: dict[str, list[str]] = {}
                plan.render(self.render_samples, out, moved, self._pace)
                self._moved(plan.name, plan.documentation, moved, out)
        if len(families) > len(collectors):
            present = set(map(id, collectors))
            for stale in [c for c in families if id(c) not in present]:
                del families[stale]

    def _render_restricted(self, names: frozenset[str], out: list[str]) -> None:
        snapshot = internals.restricted_collectors(self.registry, names)
        if snapshot is None:
            metrics: Iterable[Metric] = self.registry.collect()
        else:
            target, collectors = snapshot
            metrics = [target] if target is not None else []
            metrics = [*metrics, *(m for c in collectors for m in c.collect())]
        for metric in metrics:
            samples = [s for s in metric.samples if s.name in names]
            if samples:
                restricted = Metric(metric.name, metric.documentation, metric.type)
                restricted.samples = samples
                self.render_metric(restricted, out)

    # -- the generic path --------------------------------------------------------------------------------------
    def render_metric(self, metric: Metric, out: list[str]) -> None:
        """One family from ``collect()``: header, samples (text format: ``_created`` & co. moved after it)."""
        if any(s.native_histogram for s in metric.samples):
            out.append(self._stock(metric))
            return
        out.append(self._style.header(metric.name, metric.documentation, metric.type, metric.unit))
        moved: dict[str, list[str]] = {}
        samples = ((s.name, s.labels, s.value, s.timestamp, s.exemplar) for s in metric.samples)
        self.render_samples(metric.type, metric.name, samples, out, moved)
        self._moved(metric.name, metric.documentation, moved, out)

    def render_samples(
        self,
        metric_type: str,
        metric_name: str,
        samples: Iterable[tuple[str, dict[str, str], Any, Any, Any]],
        out: list[str],
        moved: dict[str, list[str]],
    ) -> None:
        style = self._style
        prefixes = self._prefixes
        openmetrics = style.openmetrics
        movable = {} if openmetrics else {metric_name + suffix: suffix for suffix in MOVED_SUFFIXES}
        count = 0
        pace = self._pace
        for name, labels, value, timestamp, exemplar in samples:
            count += 1
            if pace is not None and not count % CHECK_EVERY:
                pace()
            key = (name, tuple(labels.items()))
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = style.prefix(name, style.pairs(labels.items()))
            if openmetrics:
                shown = "" if value is None else go_float(value)
                stamp = "" if timestamp is None else style.timestamp(timestamp)
                tail = style.exemplar(metric_type, metric_name, name, exemplar) if exemplar else ""
                out.append(f"{prefix}{shown}{stamp}{tail}\n")
                continue
            stamp = "" if timestamp is None else style.timestamp(timestamp)
            line = f"{prefix}{go_float(value)}{stamp}\n"
            suffix = movable.get(name)
            if suffix is None:
                out.append(line)
            else:
                moved.setdefault(suffix, []).append(line)
        self._generic += count

    def _moved(self, name: str, documentation: str, moved: dict[str, list[str]], out: list[str]) -> None:
        """Text format: each moved suffix as a gauge family of its own, in suffix order."""
        for suffix in sorted(moved):
            lines = moved[suffix]
            if lines:
                out.append(self._style.moved_header(name + suffix, documentation))
                out.extend(lines)

    def _stock(self, metric: Metric) -> str:
        """A family prometheus_client renders itself (native histograms)."""
        fmt = self._fmt
        if fmt.openmetrics:
            encode: Any = openmetrics.generate_latest
            body = encode(_One(metric), escaping=fmt.escaping, version=fmt.version)
            return str(body.decode("utf-8")).removesuffix("# EOF\n")
        return generate_latest(_One(metric), escaping=fmt.escaping).decode("utf-8")
