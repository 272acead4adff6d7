"""The fast path: a standard metric's plan, per child the line prefixes made once and the text last rendered.

A plan exists per (metric, format). Per child it holds the line prefixes (sample name and escaped, sorted
label pairs — built when the child is first seen), the value cells to read, the values it last rendered and
the text they gave; a histogram child also gets one ``%``-template for all its bucket, count and sum lines.
At a scrape, a child whose values did not change costs one list comparison and appends its previous text.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import is_
from typing import Any

from jobpulse.runtime import _client_internals as internals
from jobpulse.runtime.exposition.pacing import CHECK_EVERY, Pacer
from jobpulse.runtime.exposition.style import Style, go_float

__all__ = ["Family", "RenderSamples"]

_INF = float("inf")
_read_value = internals.read_value
_read_exemplar = internals.read_exemplar
_read_created = internals.read_created
_overridden = internals.overrides_samples

#: how a plan hands samples it cannot render itself to the generic path:
#: (metric type, metric name, samples as (name, labels, value, timestamp, exemplar), out, moved lines)
RenderSamples = Callable[
    [str, str, Iterable[tuple[str, dict[str, str], Any, Any, Any]], list[str], dict[str, list[str]]], None
]


def _same_objects(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    """The same exemplar objects (equal ones may still print differently: -0.0 and 0.0)."""
    return a is b or (a is not None and b is not None and len(a) == len(b) and all(map(is_, a, b)))


def _percent(text: str) -> str:
    return text.replace("%", "%%")


class _Child:
    """One child's plan: what it last rendered (values, exemplars, text) and how to render it again.

    Kept small, as there is one per child and format: a histogram child keeps its ``%``-template and the text
    it last rendered (about twice its exposition: 4 kB for a child of 13 buckets), and rebuilds its line
    prefixes only for the rare slow path.
    """

    __slots__ = (
        "block",
        "cells",
        "child",
        "created",
        "created_line",
        "exemplars",
        "key",
        "plain",
        "prefixes",
        "raw",
        "template",
    )

    def __init__(self, key: tuple[str, ...], child: Any, cells: tuple[Any, ...]) -> None:
        self.key = key
        self.child = child
        self.cells = cells
        self.plain = internals.plain_cells(cells)
        self.prefixes: list[str] = []
        self.template = ""
        self.raw: Any = None
        self.exemplars: Any = None
        self.created: Any = None
        self.created_line = ""
        self.block = ""


class Family:
    """A standard metric wrapper in one style: its header and a plan per child."""

    def __init__(self, collector: Any, family: internals.Family, style: Style, created: bool) -> None:
        self.collector = collector
        self.family = family
        self.style = style
        self.kind = family.kind
        self.name = family.name
        self.documentation = family.documentation
        self.openmetrics = style.openmetrics
        self.created = created and family.kind in ("counter", "summary", "histogram")
        self.header = style.header(family.name, family.documentation, family.kind, family.unit)
        self.children: dict[tuple[str, ...], _Child] = {}
        self.le_at = bisect_left(sorted(family.labelnames), "le")
        self.le_pairs = [style.pair("le", go_float(bound)) for bound in family.upper_bounds]
        self.has_sum = bool(family.upper_bounds) and family.upper_bounds[0] >= 0

    def prefixes(self, key: tuple[str, ...], suffix: str | None = None) -> list[str]:
        """The line prefixes of the child with label values ``key`` (with ``suffix``, only that sample's)."""
        style = self.style
        pairs = style.pairs(zip(self.family.labelnames, key, strict=True))
        name = self.name
        if suffix is not None:
            return [style.prefix(name + suffix, pairs)]
        kind = self.kind
        if kind == "counter":
            return [style.prefix(name + "_total", pairs)]
        if kind == "gauge":
            return [style.prefix(name, pairs)]
        if kind == "summary":
            return [style.prefix(name + "_count", pairs), style.prefix(name + "_sum", pairs)]
        at = self.le_at
        bucket = name + "_bucket"
        prefixes = [style.prefix(bucket, [*pairs[:at], le, *pairs[at:]]) for le in self.le_pairs]
        prefixes.append(style.prefix(name + "_count", pairs))
        if self.has_sum:
            prefixes.append(style.prefix(name + "_sum", pairs))
        return prefixes

    def plan(self, key: tuple[str, ...], child: Any) -> _Child:
        """The plan of a child seen for the first time (or replaced): its line prefixes, made once."""
        plan = _Child(key, child, internals.cells(self.kind, child))
        prefixes = self.prefixes(key)
        if self.kind != "histogram":
            plan.prefixes = prefixes
            return plan
        # one template for all lines; "%.0s" swallows the 0.0 that accumulate(initial=0.0) puts first, and the
        # counts (floats) are written by %r
        lines = [_percent(p) + "%r\n" for p in prefixes[: len(self.le_pairs) + 1]]
        if self.has_sum:
            lines.append(_percent(prefixes[-1]) + "%s\n")
        plan.template = "%.0s" + "".join(lines)
        return plan

    # -- rendering ---------------------------------------------------------------------------------------------
    def render(
        self, render_samples: RenderSamples, out: list[str], moved: dict[str, list[str]], pace: Pacer | None = None
    ) -> None:
        out.append(self.header)
        items = internals.children(self.collector)
        plans = self.children
        kind = self.kind
        created = self.created
        # OpenMetrics: a child's _created line follows its samples; text: all of them in a gauge family after
        inline = created and self.openmetrics
        created_lines = moved.setdefault("_created", []) if created and not self.openmetrics else None
        countdown = CHECK_EVERY
        for key, child in items:
            countdown -= 1
            if not countdown:
                countdown = CHECK_EVERY
                if pace is not None:
                    pace()
            plan = plans.get(key)
            if plan is None or plan.child is not child:
                plan = plans[key] = self.plan(key, child)
            if _overridden(child):
                self._samples(render_samples, key, child, out, moved)
                continue
            if kind == "histogram":
                self._histogram(plan, out)
            elif kind == "counter":
                self._counter(plan, out)
            elif kind == "gauge":
                self._gauge(plan, out)
            else:
                self._summary(plan, out)
            if created:
                stamp = _read_created(child)
                if stamp != plan.created:  # new, or Counter.reset()
                    plan.created = stamp
                    plan.created_line = f"{self.prefixes(key, '_created')[0]}{go_float(stamp)}\n"
                if inline:
                    out.append(plan.created_line)
                else:
                    created_lines.append(plan.created_line)  # type: ignore[union-attr]
        if len(plans) > len(items):
            present = {key for key, _ in items}
            for key in [key for key in plans if key not in present]:
                del plans[key]

    def _histogram(self, plan: _Child, out: list[str]) -> None:
        cells = plan.cells
        if plan.plain:
            raw = list(map(_read_value, cells))
            exemplars = tuple(map(_read_exemplar, cells[:-1])) if self.openmetrics else None
        else:
            raw = [cell.get() for cell in cells]
            exemplars = tuple(cell.get_exemplar() for cell in cells[:-1]) if self.openmetrics else None
        if exemplars is not None and not any(exemplars):
            exemplars = None  # the usual case, kept as one None rather than a tuple of them
        # equal values render equally: bucket counts and the sum start at 0.0 and are only added to, so they
        # never hold -0.0 (the one float equal to another that prints differently)
        if raw != plan.raw or not _same_objects(exemplars, plan.exemplars) or not plan.block:
            plan.raw = raw
            plan.exemplars = exemplars
            plan.block = self._histogram_text(plan, raw, exemplars)
        out.append(plan.block)

    def _histogram_text(self, plan: _Child, raw: list[Any], exemplars: tuple[Any, ...] | None) -> str:
        n = len(self.le_pairs)
        accs = list(accumulate(raw[:n], initial=0.0))
        count = accs[-1]
        # the template writes counts with %r, which is go_float's own result for a float in (-inf, 1e6);
        # a NaN anywhere makes the last cumulative count NaN
        if exemplars is None and count.__class__ is float and count == count and min(accs) > -_INF and max(accs) < 1e6:
            accs.append(count)
            if self.has_sum:
                accs.append(go_float(raw[n]))
            text: str = plan.template % tuple(accs)
            return text
        prefixes = self.prefixes(plan.key)  # rare (exemplars, NaN, counts of 1e6 and more): not kept
        bucket = self.name + "_bucket"
        style = self.style
        lines = []
        for i in range(n):
            exemplar = exemplars[i] if exemplars is not None else None
            tail = style.exemplar("histogram", self.name, bucket, exemplar) if exemplar else ""
            lines.append(f"{prefixes[i]}{go_float(accs[i + 1])}{tail}\n")
        lines.append(f"{prefixes[n]}{go_float(count)}\n")
        if self.has_sum:
            lines.append(f"{prefixes[n + 1]}{go_float(raw[n])}\n")
        return "".join(lines)

    def _counter(self, plan: _Child, out: list[str]) -> None:
        cell = plan.cells[0]
        if plan.plain:
            value = _read_value(cell)
            exemplar = _read_exemplar(cell) if self.openmetrics else None
        else:
            value = cell.get()
            exemplar = cell.get_exemplar() if self.openmetrics else None
        # a counter never holds -0.0 (it starts at 0.0 and only grows), so equal values render equally
        if value != plan.raw or exemplar is not plan.exemplars or not plan.block:
            plan.raw = value
            plan.exemplars = exemplar
            tail = self.style.exemplar("counter", self.name, self.name + "_total", exemplar) if exemplar else ""
            plan.block = f"{plan.prefixes[0]}{go_float(value)}{tail}\n"
        out.append(plan.block)

    def _gauge(self, plan: _Child, out: list[str]) -> None:
        cell = plan.cells[0]
        value = _read_value(cell) if plan.plain else cell.get()
        # a gauge may be set to -0.0, which equals 0.0: a zero is formatted again every time
        if value != plan.raw or not value:
            plan.raw = value
            plan.block = f"{plan.prefixes[0]}{go_float(value)}\n"
        out.append(plan.block)

    def _summary(self, plan: _Child, out: list[str]) -> None:
        count_cell, sum_cell = plan.cells
        raw = (_read_value(count_cell), _read_value(sum_cell)) if plan.plain else (count_cell.get(), sum_cell.get())
        if raw != plan.raw or not plan.block:  # like a histogram's, a summary's values never hold -0.0
            plan.raw = raw
            prefixes = plan.prefixes
            plan.block = f"{prefixes[0]}{go_float(raw[0])}\n{prefixes[1]}{go_float(raw[1])}\n"
        out.append(plan.block)

    def _samples(
        self,
        render_samples: RenderSamples,
        key: tuple[str, ...],
        child: Any,
        out: list[str],
        moved: dict[str, list[str]],
    ) -> None:
        """A child with samples of its own (``set_function``), merged with its labels as ``_multi_samples`` does."""
        series = list(zip(self.family.labelnames, key, strict=True))
        samples = (
            (self.name + suffix, dict(series + list(labels.items())) if series else labels, value, timestamp, exemplar)
            for suffix, labels, value, timestamp, exemplar, _ in internals.child_samples(child)
        )
        render_samples(self.kind, self.name, samples, out, moved)
