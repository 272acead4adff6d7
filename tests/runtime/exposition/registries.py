"""Random prometheus_client registries for the equivalence tests: everything an exposition can contain.

:func:`random_registry` builds, from one ``random.Random``, a registry of counters, gauges, summaries,
histograms, info and enum metrics (labelled or not, with units, exemplars, ``set_function`` gauges, NaN,
±Inf, -0.0 and values around Go's switch to exponents), custom collectors yielding families of every type
(with timestamps, ``_created`` samples and exemplars), a ``target_info``, and names, help texts and label
values full of characters that need escaping. It also returns the changes to make before a second render:
children added, removed, reset or replaced (removed and re-added), values updated, a metric cleared, a
collector unregistered or a new one registered.

Hypothesis hands out the ``Random`` (``st.randoms(use_true_random=True)``: a failure prints its seed);
drawing every value through Hypothesis' own strategies was 25 times slower, too slow for 10,000 registries.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.samples import Exemplar, Timestamp

#: every Accept header a scraper might send that selects a different format or escaping
ACCEPTS = [
    "",
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text",
    "text/plain; version=0.0.4",
    *(f"application/openmetrics-text; version=1.0.0; escaping={e}" for e in ("allow-utf-8", "dots", "values")),
    *(f"text/plain; version=1.0.0; escaping={e}" for e in ("allow-utf-8", "underscores", "dots", "values")),
]
PROMETHEUS_ACCEPT = ACCEPTS[2]

# quotes, backslashes, newlines, braces, commas, %, dots, colons, digits, spaces and non-ASCII
CHARS = list('ab_z09:."\\\n{},=% é\U0001f600')
LEGACY_FIRST = list("abcxyz_")
LEGACY_REST = list("abcxyz_019")
SPECIAL = [0.0, -0.0, 1.0, 3.0, 1e6, 999999.9, 1e16, 1.5e16, 1e-5, 123456789.0, -1e7, 2.5e300, 5e-324]
INF = float("inf")
NAN = float("nan")


class Draw:
    """Values with the shapes that matter for an exposition, from one ``random.Random``."""

    def __init__(self, rng: random.Random, large: bool = False) -> None:
        self.rng = rng
        self.max_children = 40 if large else 3
        self.max_metrics = 12 if large else 4

    def chance(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def text(self, max_size: int = 6, min_size: int = 0) -> str:
        return "".join(self.rng.choice(CHARS) for _ in range(self.rng.randint(min_size, max_size)))

    def legacy(self, max_size: int = 6) -> str:
        rng = self.rng
        return rng.choice(LEGACY_FIRST) + "".join(rng.choice(LEGACY_REST) for _ in range(rng.randint(0, max_size - 1)))

    def label_name(self) -> str:
        name = self.legacy() if self.chance(0.7) else self.text(5, 1)
        return name if not name.startswith("__") else "l" + name

    def label_names(self, reserved: tuple[str, ...] = (), max_size: int = 3) -> tuple[str, ...]:
        names: list[str] = []
        for _ in range(self.rng.randint(0, max_size)):
            name = self.label_name()
            if name not in names and name not in reserved:
                names.append(name)
        return tuple(names)

    def number(self) -> float:
        rng = self.rng
        pick = rng.random()
        if pick < 0.35:
            return rng.choice(SPECIAL)
        if pick < 0.45:
            return rng.choice([INF, -INF, NAN])
        if pick < 0.6:
            return float(rng.randint(0, 50))
        if pick < 0.7:
            return rng.randint(-(10**8), 10**8)  # an int: formatted as float(value)
        if pick < 0.85:
            return rng.uniform(-1e7, 1e7)
        return rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30)

    def amount(self) -> float:
        """Non-negative: what a counter's ``inc`` accepts."""
        value = self.number()
        return value if value >= 0 else (-value if value == value else 0.0)

    def timestamp(self) -> Any:
        pick = self.rng.random()
        if pick < 0.5:
            return None
        if pick < 0.8:
            return self.rng.uniform(-1e10, 1e10)
        return Timestamp(self.rng.randint(-(10**9), 10**10), self.rng.randint(0, 999_999_999))

    def exemplar(self) -> dict[str, str] | None:
        if self.chance(0.7):
            return None
        return {self.label_name(): self.text() for _ in range(self.rng.randint(0, 2))}

    def metric_name(self, index: int) -> str:
        """Unique per metric (the index), a legacy name or one full of characters to escape."""
        return f"m{index}x" + (self.legacy() if self.chance(0.6) else self.text(5))

    def children(self, labelnames: tuple[str, ...]) -> list[tuple[str, ...]]:
        if not labelnames:
            return [()]
        values = {tuple(self.text() for _ in labelnames) for _ in range(self.rng.randint(0, self.max_children))}
        return sorted(values)


Change = Callable[[], None]


def _standard(draw: Draw, registry: CollectorRegistry, index: int) -> tuple[Any, list[Change]]:
    """A prometheus_client metric with children and updates, and the changes to make later."""
    rng = draw.rng
    kind = rng.choice(["counter", "gauge", "summary", "histogram", "info", "enum"])
    name = draw.metric_name(index)
    doc = draw.text(8)
    unit = rng.choice(["", "", "seconds", "bytes"]) if kind not in ("info", "enum") else ""
    reserved = {"histogram": ("le",), "summary": ("quantile",), "enum": (name,)}.get(kind, ())
    labelnames = draw.label_names(reserved)
    options: dict[str, Any] = {"registry": registry}
    if unit:
        options["unit"] = unit
    states: list[str] = []
    info_keys = [k for k in draw.label_names() if k not in labelnames]
    metric: Any
    if kind == "counter":
        metric = Counter(name, doc, labelnames, **options)
    elif kind == "gauge":
        metric = Gauge(name, doc, labelnames, **options)
    elif kind == "summary":
        metric = Summary(name, doc, labelnames, **options)
    elif kind == "histogram":
        bounds = sorted(v for v in (draw.number() for _ in range(rng.randint(1, 5))) if v == v)
        if not bounds or bounds == [INF]:
            bounds.insert(0, 1.0)  # two bounds at least once +Inf is added
        metric = Histogram(name, doc, labelnames, buckets=bounds, **options)
    elif kind == "info":
        metric = Info(name, doc, labelnames, registry=registry)
    else:
        states = sorted({draw.text(4) for _ in range(rng.randint(1, 3))})
        metric = Enum(name, doc, labelnames, states=states, registry=registry)

    def child(values: tuple[str, ...]) -> Any:
        return metric.labels(*values) if labelnames else metric

    def update(target: Any, with_exemplar: bool = True) -> None:
        exemplar = draw.exemplar() if with_exemplar else None
        if kind == "counter":
            target.inc(draw.amount(), exemplar=exemplar)
        elif kind == "gauge":
            target.set(draw.number())
        elif kind == "summary":
            target.observe(draw.number())
        elif kind == "histogram":
            target.observe(draw.number(), exemplar=exemplar)
        elif kind == "info":
            target.info({k: draw.text() for k in info_keys})
        else:
            target.state(rng.choice(states))

    children = draw.children(labelnames)
    for values in children:
        target = child(values)
        for _ in range(rng.randint(0, 3)):
            update(target)
    if kind == "gauge" and children and draw.chance(0.2):
        fixed = draw.number()
        child(children[-1]).set_function(lambda: fixed)

    def change() -> None:
        for _ in range(rng.randint(0, 3)):
            action = rng.choice(["update", "update", "add", "remove", "reset", "replace", "clear"])
            values = rng.choice(children) if children else ()
            if action == "update" and children:
                update(child(values), with_exemplar=False)
            elif action == "add" and labelnames:
                update(metric.labels(*(draw.text() for _ in labelnames)))
            elif action == "remove" and labelnames and children:
                metric.remove(*values)
            elif action == "reset" and kind == "counter" and children:
                child(values).reset()
            elif action == "replace" and labelnames and children:
                metric.remove(*values)
                update(metric.labels(*values))
            elif action == "clear" and labelnames:  # prometheus_client < 0.24 fails on an unlabelled one
                metric.clear()

    return metric, [change]


def _family(draw: Draw, name: str) -> Metric:
    """A custom collector's family of any type, with timestamps, created samples and exemplars."""
    rng = draw.rng
    kind = rng.choice(["counter", "gauge", "summary", "histogram", "gaugehistogram", "info", "stateset", "unknown"])
    doc = draw.text(8)
    unit = rng.choice(["", "seconds"]) if kind not in ("info", "stateset") else ""
    labelnames = draw.label_names(("le", "quantile", name))
    family: Any
    if kind == "counter":
        family = CounterMetricFamily(name, doc, labels=labelnames, unit=unit)
    elif kind == "gauge":
        family = GaugeMetricFamily(name, doc, labels=labelnames, unit=unit)
    elif kind == "summary":
        family = SummaryMetricFamily(name, doc, labels=labelnames, unit=unit)
    elif kind == "histogram":
        family = HistogramMetricFamily(name, doc, labels=labelnames, unit=unit)
    elif kind == "gaugehistogram":
        family = GaugeHistogramMetricFamily(name, doc, labels=labelnames, unit=unit)
    elif kind == "info":
        family = InfoMetricFamily(name, doc, labels=labelnames)
    elif kind == "stateset":
        family = StateSetMetricFamily(name, doc, labels=labelnames)
    else:
        family = UnknownMetricFamily(name, doc, labels=labelnames, unit=unit)
    for values in draw.children(labelnames):
        value, count, stamp = draw.number(), draw.amount(), draw.timestamp()
        if kind == "counter":
            example = draw.exemplar()
            family.add_metric(
                values,
                count,
                created=rng.uniform(0, 2e9) if draw.chance() else None,
                timestamp=stamp,
                exemplar=Exemplar(example, value, draw.timestamp()) if example is not None else None,
            )
        elif kind in ("gauge", "unknown"):
            family.add_metric(values, value, timestamp=stamp)
        elif kind == "summary":
            family.add_metric(values, count, value, timestamp=stamp)
        elif kind in ("histogram", "gaugehistogram"):
            bounds = sorted(rng.uniform(-10, 10) for _ in range(rng.randint(0, 3)))
            buckets: list[Any] = [(str(b), float(i)) for i, b in enumerate(bounds)] + [("+Inf", count)]
            example = draw.exemplar()
            if example is not None and kind == "histogram":
                buckets[-1] = ("+Inf", count, Exemplar(example, value, draw.timestamp()))
            family.add_metric(values, buckets, value, timestamp=stamp)
        elif kind == "info":
            keys = [k for k in draw.label_names() if k not in labelnames]
            family.add_metric(values, {k: draw.text() for k in keys}, timestamp=stamp)
        else:
            states = {s for s in (draw.text(4) for _ in range(rng.randint(0, 2))) if s not in labelnames}
            family.add_metric(values, {s: draw.chance() for s in states}, timestamp=stamp)
    return family


class CustomCollector:
    """A user's collector: the same families at every collect()."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _custom(draw: Draw, registry: CollectorRegistry, index: int) -> CustomCollector:
    families = [_family(draw, f"{draw.metric_name(index)}c{i}") for i in range(draw.rng.randint(1, 3))]
    collector = CustomCollector(families)
    registry.register(collector)
    return collector


def random_registry(rng: random.Random, large: bool = False) -> tuple[CollectorRegistry, list[Change]]:
    """A registry built at random, and the changes to make to it (in order) before a second render."""
    draw = Draw(rng, large)
    target = {draw.legacy(): draw.text() for _ in range(rng.randint(1, 2))} if draw.chance(0.2) else None
    registry = CollectorRegistry(target_info=target)
    collectors: list[Any] = []
    changes: list[Change] = []
    for index in range(rng.randint(0, draw.max_metrics)):
        if draw.chance(0.2):
            collectors.append(_custom(draw, registry, index))
        else:
            metric, later = _standard(draw, registry, index)
            collectors.append(metric)
            changes.extend(later)
    if collectors and draw.chance(0.3):
        gone = rng.choice(collectors)
        changes.append(lambda: registry.unregister(gone))
    if draw.chance(0.3):
        index = draw.max_metrics + 1

        def late() -> None:
            if draw.chance():
                _custom(draw, registry, index)
            else:
                _standard(draw, registry, index)

        changes.append(late)
    return registry, changes


# -- multi-process files --------------------------------------------------------------------------------------------

_MODES = ["all", "liveall", "min", "max", "sum", "livesum", "mostrecent"]


def random_process_files(rng: random.Random, directory: Path) -> None:
    """prometheus_client mmap files of a few processes (counters, histograms, summaries, gauges in every mode)."""
    draw = Draw(rng)
    metrics = []
    for i in range(rng.randint(1, 3)):
        kind = rng.choice(["counter", "histogram", "summary", *(f"gauge_{m}" for m in _MODES)])
        metrics.append((kind, f"mp{i}_{draw.legacy()}", draw.label_names(("le", "pid", "quantile"), 2)))
    for pid in range(1000, 1000 + rng.randint(1, 3)):
        for kind, name, labelnames in metrics:
            db = MmapedDict(str(directory / f"{kind}_{pid}.db"))
            for values in draw.children(labelnames):
                labels = dict(zip(labelnames, values, strict=True))

                def put(sample: str, extra: dict[str, str], value: float, stamp: float = 0.0) -> None:
                    merged = {**labels, **extra}  # noqa: B023 - called at once, inside this iteration
                    key = mmap_key(name, sample, list(merged), list(merged.values()), "help \\ text")  # noqa: B023
                    db.write_value(key, value, stamp)  # noqa: B023

                if kind == "counter":
                    put(name + "_total", {}, float(rng.randint(0, 9)))
                elif kind == "summary":
                    put(name + "_count", {}, float(rng.randint(0, 9)))
                    put(name + "_sum", {}, rng.uniform(-1e7, 1e7))
                elif kind == "histogram":
                    for bound in ("0.5", "1.0", "+Inf"):
                        put(name + "_bucket", {"le": bound}, float(rng.randint(0, 5)))
                    put(name + "_sum", {}, rng.uniform(0, 1e7))
                else:
                    put(name, {}, rng.choice([draw.number(), rng.uniform(-1e3, 1e3)]), rng.uniform(0, 2e9))
            db.close()
