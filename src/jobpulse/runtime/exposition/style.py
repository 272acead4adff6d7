"""How the parts of an exposition are written, exactly as prometheus_client's two encoders write them.

A :class:`Style` is one output format (Prometheus text 0.0.4, or OpenMetrics 1.0) with one name-escaping
scheme. It knows everything about a line except its value: family headers, the text before a value (the
*prefix*: sample name, braces, escaped label pairs, the space), timestamps and exemplars. The renderer asks
for a prefix once per series and caches it; :func:`go_float` formats values at every scrape.

Every function here reproduces prometheus_client's output byte for byte, quirks included (a ``:`` in a
sample name becomes ``_`` in OpenMetrics under the default escaping, help text is escaped differently in
the two formats); ``tests/runtime/exposition/test_equivalence.py`` compares them on random registries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import utils as _utils
from prometheus_client.openmetrics.exposition import (
    ALLOWUTF8,
    DOTS,
    UNDERSCORES,
    VALUES,
    escape_label_name,
    escape_metric_name,
)

from jobpulse.runtime._client_internals import escape_name, is_legacy_labelname_rune, is_valid_legacy_metric_name

__all__ = ["ALLOWUTF8", "DOTS", "ESCAPINGS", "UNDERSCORES", "VALUES", "Style", "escape_value", "go_float"]

ESCAPINGS = (ALLOWUTF8, UNDERSCORES, DOTS, VALUES)
_INF = math.inf
_float_to_go_string: Callable[[Any], str] = _utils.floatToGoString
#: text format: which sample names leave their family for a gauge family of their own, after it
MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")
_CACHE_LIMIT = 20_000


def go_float(value: Any) -> str:
    """prometheus_client's ``floatToGoString``, with a fast path for the common case.

    For a finite float below 1e6 ``floatToGoString`` returns ``repr`` of it: that is one check and one C call
    here. Everything else (infinities, NaN, Go's exponent form from 1e6 on, ints, float subclasses) is handed
    to prometheus_client's own function, so its spelling is the installed release's (0.23 wrote ``1e+010``
    where later releases write ``1e+10``).
    """
    if value.__class__ is float and -_INF < value < 1e6:
        return repr(value)
    return _float_to_go_string(value)


def escape_value(value: str) -> str:
    """A label value (or OpenMetrics help text): backslash, newline and double quote escaped."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help_text(value: str) -> str:
    """Help text in the Prometheus text format: backslash and newline escaped (quotes stay)."""
    return value.replace("\\", r"\\").replace("\n", r"\n")


def _exemplar_allowed(metric_type: str, metric_name: str, sample_name: str) -> bool:
    if metric_type == "counter" and sample_name.endswith("_total"):
        return True
    if metric_type == "gaugehistogram" and sample_name.endswith("_bucket"):
        return True
    return metric_type == "histogram" and (sample_name.endswith("_bucket") or sample_name == metric_name)


class Style:
    """One format (``openmetrics`` or the Prometheus text format) with one name-escaping scheme."""

    def __init__(self, *, openmetrics: bool, escaping: str = UNDERSCORES) -> None:
        if escaping not in ESCAPINGS:
            raise ValueError(f"unknown escaping {escaping!r}; one of {', '.join(ESCAPINGS)}")
        self.openmetrics = openmetrics
        self.escaping = escaping
        self.eof = "# EOF\n" if openmetrics else ""
        self._names: dict[str, tuple[bool, str]] = {}
        self._label_names: dict[str, str] = {}

    # -- families --------------------------------------------------------------------------------------------
    def header(self, name: str, documentation: str, metric_type: str, unit: str = "") -> str:
        """``# HELP`` and ``# TYPE`` (and OpenMetrics' ``# UNIT``) of a family, with the text format's renames."""
        escaping = self.escaping
        if self.openmetrics:
            shown = escape_metric_name(name, escaping)
            head = f"# HELP {shown} {escape_value(documentation)}\n# TYPE {shown} {metric_type}\n"
            if unit:
                head += f"# UNIT {shown} {unit}\n"
            return head
        if metric_type == "counter":
            name += "_total"
        elif metric_type == "info":
            name += "_info"
            metric_type = "gauge"
        elif metric_type == "stateset":
            metric_type = "gauge"
        elif metric_type == "gaugehistogram":
            metric_type = "histogram"
        elif metric_type == "unknown":
            metric_type = "untyped"
        shown = escape_metric_name(name, escaping)
        return f"# HELP {shown} {_escape_help_text(documentation)}\n# TYPE {shown} {metric_type}\n"

    def moved_header(self, name: str, documentation: str) -> str:
        """Text format: the gauge family that ``name`` (a family's ``_created``, ``_gsum`` or ``_gcount``) moves to."""
        shown = escape_metric_name(name, self.escaping)
        return f"# HELP {shown} {_escape_help_text(documentation)}\n# TYPE {shown} gauge\n"

    # -- samples ---------------------------------------------------------------------------------------------
    def pair(self, name: str, value: str) -> str:
        """One label pair, ``name="value"``, escaped."""
        shown = self._label_names.get(name)
        if shown is None:
            if len(self._label_names) > _CACHE_LIMIT:
                self._label_names.clear()
            shown = self._label_names[name] = escape_label_name(name, self.escaping)
        return f'{shown}="{escape_value(value)}"'

    def pairs(self, labels: Iterable[tuple[str, str]]) -> list[str]:
        """The label pairs of a sample, sorted by name as both encoders sort them."""
        return [self.pair(name, value) for name, value in sorted(labels)]

    def prefix(self, name: str, pairs: list[str]) -> str:
        """Everything before the value: ``name{pairs} `` (or ``{"name",pairs} `` for a UTF-8 name, unescaped)."""
        plain, shown = self._sample_name(name)
        if plain:
            return f"{shown}{{{','.join(pairs)}}} " if pairs else f"{shown} "
        return f"{{{shown},{','.join(pairs)}}} " if pairs else f"{{{shown}}} "

    def _sample_name(self, name: str) -> tuple[bool, str]:
        cached = self._names.get(name)
        if cached is None:
            escaping = self.escaping
            plain = escaping != ALLOWUTF8 or is_valid_legacy_metric_name(name)
            if self.openmetrics and plain:
                shown = escape_name(name, escaping, is_legacy_labelname_rune)
            else:
                shown = escape_metric_name(name, escaping)
            if len(self._names) > _CACHE_LIMIT:
                self._names.clear()
            cached = self._names[name] = (plain, shown)
        return cached

    def timestamp(self, timestamp: Any) -> str:
        """A sample's timestamp: milliseconds in the text format, as given (seconds) in OpenMetrics."""
        if self.openmetrics:
            return f" {timestamp}"
        return f" {int(float(timestamp) * 1000):d}"

    def exemplar(self, metric_type: str, metric_name: str, sample_name: str, exemplar: Any) -> str:
        """OpenMetrics: `` # {labels} value [timestamp]`` after a counter's total or a histogram bucket."""
        if not _exemplar_allowed(metric_type, metric_name, sample_name):
            raise ValueError(f"Metric {metric_name} has exemplars, but is not a histogram bucket or counter")
        labels = ",".join(f'{k}="{escape_value(v)}"' for k, v in sorted(exemplar.labels.items()))
        if exemplar.timestamp is not None:
            return f" # {{{labels}}} {go_float(exemplar.value)} {exemplar.timestamp}"
        return f" # {{{labels}}} {go_float(exemplar.value)}"
