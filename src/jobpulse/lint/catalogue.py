"""The metric catalogue queries are checked against: a spec's metrics, labels, scrape interval and lint settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from jobpulse.lint.source import Tree
from jobpulse.spec import model, wire
from jobpulse.spec.errors import Location, Problem, SpecError
from jobpulse.spec.load import Resolver, load_spec_text
from jobpulse.spec.targets import RuleTarget
from jobpulse.spec.yamlpos import PathKey, load_yaml

#: critical/warning/info (the mixins), page/ticket (jobpulse's SLO defaults), none (kube-prometheus' Watchdog)
DEFAULT_SEVERITIES = frozenset({"critical", "warning", "info", "page", "ticket", "none"})

#: Series Prometheus itself writes: always known.
SYNTHETIC_SERIES = frozenset(
    {
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float | None:
    """``1h30m`` → 5400.0; None when ``text`` is not a Prometheus duration."""
    text = text.strip()
    if not text or _DURATION_PART.sub("", text):
        return None
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text)))


@dataclass(frozen=True)
class Allow:
    """One ``lint.allow`` entry of a spec, with where it is written."""

    check: str
    where: str | None
    reason: str
    file: str
    path: PathKey


@dataclass
class Catalogue:
    spec: model.Spec
    wire: wire.SpecV1
    series: dict[str, tuple[model.Metric, tuple[str, ...]]]
    scrape_interval: float
    severities: frozenset[str]
    allow: list[Allow] = field(default_factory=list)
    _labels: dict[str, frozenset[str] | None] = field(default_factory=dict, repr=False)

    @property
    def target(self) -> RuleTarget | None:
        """The rule engine the spec's ``lint.target`` names, if any."""
        return None if self.wire.lint.target is None else RuleTarget.parse(self.wire.lint.target)

    @property
    def target_labels(self) -> frozenset[str]:
        return frozenset(self.spec.service.target_labels)

    def metric(self, series: str) -> tuple[model.Metric, tuple[str, ...]] | None:
        return self.series.get(series)

    def labels_of(self, series: str) -> frozenset[str] | None:
        """Every label a series carries (its own, ``le`` for buckets, the target labels); None when unknown."""
        if series in self._labels:
            return self._labels[series]
        entry = self.series.get(series)
        labels = None
        if entry is not None:
            metric, extra = entry
            labels = frozenset(metric.label_names) | frozenset(extra) | self.target_labels
        self._labels[series] = labels
        return labels

    def series_type(self, series: str) -> str | None:
        """``counter``, ``gauge`` or None; a histogram's ``_bucket``, ``_sum`` and ``_count`` are counters."""
        entry = self.series.get(series)
        if entry is None:
            return None
        metric = entry[0]
        return "gauge" if metric.type == "gauge" else "counter"


class _CatalogueResolver(Resolver):
    """The spec loader's resolver, minus its query checks: lint reports those under check ids."""

    def check_queries(self, spec: model.Spec) -> None:
        return None


def load_catalogue(text: str, file: str, tree: Tree | None = None) -> Catalogue:
    """Load a spec as a catalogue; raises :class:`jobpulse.spec.errors.SpecError` on spec errors."""
    data, positions = load_yaml(text, file)
    try:
        spec_wire = wire.SpecV1.model_validate(data)
    except ValidationError:
        load_spec_text(text, file)  # raises SpecError with located messages
        raise  # pragma: no cover - load_spec_text always raises here
    try:
        spec = _CatalogueResolver(spec_wire, positions, Path(file)).resolve()
    except ValidationError as exc:  # a model built while resolving refused a value the wire model let through
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = f"invalid spec: {exc.title}.{where}: {first['msg']}"
        raise SpecError([Problem(Location(file, 1, 1), "", message)]) from None
    allow = [
        Allow(entry.check, entry.where, entry.reason, file, ("lint", "allow", i))
        for i, entry in enumerate(spec_wire.lint.allow)
    ]
    severities = frozenset(spec_wire.lint.severities) if spec_wire.lint.severities else DEFAULT_SEVERITIES
    return Catalogue(
        spec=spec,
        wire=spec_wire,
        series=spec.series_index(),
        scrape_interval=duration_seconds(spec.service.scrape_interval) or 15.0,
        severities=severities,
        allow=allow,
    )
