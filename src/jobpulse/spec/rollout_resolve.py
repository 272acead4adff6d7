"""Check the wire ``rollouts`` section against the metric catalogue and resolve it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import promql_parser

from jobpulse.spec import model
from jobpulse.spec.promql import parse
from jobpulse.spec.rollout import MIN_SAMPLES, Compared, Phase, Rollout, SeriesRef
from jobpulse.spec.slo import camel, duration_seconds
from jobpulse.spec.wire_rollout import CompareSpec, RolloutSpec
from jobpulse.spec.yamlpos import PathKey

Report = Callable[[PathKey, str], None]
QueryCheck = Callable[[str], list[str]]
Index = dict[str, tuple[model.Metric, tuple[str, ...]]]


def _split(text: str) -> SeriesRef:
    name, _, rest = text.strip().partition("{")
    return SeriesRef(name.strip(), rest.rsplit("}", 1)[0].strip().rstrip(",").strip())


class _Resolver:
    def __init__(self, index: Index, service: model.Service, report: Report, check: QueryCheck) -> None:
        self.index = index
        self.service = service
        self.report = report
        self.check = check

    def side_label(self, rollout: RolloutSpec, metric: model.Metric, where: PathKey) -> bool:
        """The rollout's label is a label of ``metric`` and allows both sides' values."""
        label = metric.label(rollout.label)
        if label is None:
            if rollout.label in self.service.target_labels:
                return True
            self.report(
                where,
                f"{metric.name} has no label {rollout.label!r} to tell the canary from the baseline; add it to the "
                f"metric's labels (its labels are {', '.join(metric.label_names) or 'none'})",
            )
            return False
        missing = [v for v in (rollout.canary, rollout.baseline) if label.values is not None and v not in label.values]
        if missing:
            self.report(
                where,
                f"{metric.name}'s {rollout.label} label does not allow {', '.join(repr(v) for v in missing)}; "
                f"it takes {', '.join(sorted(label.values or ()))}",
            )
            return False
        return True

    def counter(self, rollout: RolloutSpec, text: str, where: PathKey) -> SeriesRef | None:
        text = " ".join(text.split())
        try:
            ast = parse(text)
        except ValueError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
            self.report(where, f"invalid PromQL: {first}")
            return None
        if not isinstance(ast, promql_parser.VectorSelector) or not ast.name:
            self.report(where, 'expected a counter selector such as http_requests_total{status=~"5.."}')
            return None
        ref = _split(text)
        entry = self.index.get(ref.name)
        problems = self.check(text)
        for message in problems:
            self.report(where, message)
        if problems:
            return None
        assert entry is not None
        metric, _ = entry
        if metric.type == "gauge":
            self.report(where, f"{ref.name} is a gauge; a compared ratio counts events (a counter or a _count series)")
            return None
        if not self.side_label(rollout, metric, where):
            return None
        if rollout.label in {m.name for m in _matchers(text)}:
            self.report(where, f"do not match on {rollout.label!r} here: jobpulse adds it for each side")
            return None
        return ref

    def compared(self, rollout: RolloutSpec, spec: CompareSpec, base: PathKey) -> Compared | None:
        def common(**kind: Any) -> Compared:
            return Compared(
                name=spec.name,
                description=spec.description,
                direction=spec.direction,
                allowed_relative=spec.allowed_relative,
                allowed_absolute=spec.allowed_absolute,
                critical=spec.critical,
                **kind,
            )

        if spec.ratio is not None:
            numerator = self.counter(rollout, spec.ratio.numerator, (*base, "ratio", "numerator"))
            denominator = self.counter(rollout, spec.ratio.denominator, (*base, "ratio", "denominator"))
            if numerator is None or denominator is None:
                return None
            return common(kind="ratio", unit="ratio", numerator=numerator, denominator=denominator)
        latency = spec.latency
        assert latency is not None
        where = (*base, "latency", "histogram")
        entry = self.index.get(latency.histogram)
        metric = None if entry is None else entry[0]
        if metric is None or metric.name != latency.histogram:
            names = sorted({m.name for m, _ in self.index.values() if m.type == "histogram"})
            self.report(
                where,
                f"unknown histogram {latency.histogram!r}; the catalogue's histograms are {', '.join(names) or 'none'}",
            )
            return None
        if metric.type != "histogram":
            self.report(where, f"{metric.name} is a {metric.type}; a latency comparison needs a histogram")
            return None
        if not self.side_label(rollout, metric, where):
            return None
        inner = latency.selector[1:-1].strip().rstrip(",").strip() if latency.selector else ""
        if rollout.label in {m.name for m in _matchers(f"{metric.name}_bucket{{{inner}}}")}:
            self.report((*base, "latency", "selector"), f"do not match on {rollout.label!r}: jobpulse adds it")
            return None
        problems = self.check(f"{metric.name}_bucket{{{inner}}}") if inner else []
        for message in problems:
            self.report((*base, "latency", "selector"), message)
        if problems:
            return None
        return common(
            kind="latency",
            unit=metric.unit,
            histogram=metric.name,
            quantile=latency.quantile,
            histogram_matchers=inner,
        )

    def rollout(self, spec: RolloutSpec, base: PathKey) -> Rollout | None:
        interval = float(duration_seconds(spec.interval))
        scrape = float(duration_seconds(self.service.scrape_interval))
        ok = True
        if interval < 2 * scrape:
            self.report(
                (*base, "interval"),
                f"an interval of {spec.interval} holds fewer than two scrapes at the service's scrape interval "
                f"({self.service.scrape_interval}); use at least {int(2 * scrape)}s",
            )
            ok = False
        inner = spec.matchers[1:-1].strip().rstrip(",").strip() if spec.matchers else ""
        if inner and spec.label in {m.name for m in _matchers(f"x{{{inner}}}")}:
            self.report((*base, "matchers"), f"do not match on {spec.label!r} here: jobpulse adds it for each side")
            ok = False
        phases: list[Phase] = []
        seen: set[str] = set()
        for k, p in enumerate(spec.phases):
            where: PathKey = (*base, "phases", k)
            if p.name in seen:
                self.report((*where, "name"), f"phase {p.name!r} is defined twice")
                ok = False
                continue
            seen.add(p.name)
            seconds = float(duration_seconds(p.min_duration))
            if seconds < MIN_SAMPLES * interval:
                self.report(
                    (*where, "min_duration"),
                    f"{p.min_duration} holds {int(seconds // interval)} samples of {spec.interval} per side; the test "
                    f"needs at least {MIN_SAMPLES}: make the phase at least {MIN_SAMPLES} intervals long",
                )
                ok = False
            window = p.baseline_window or ("preceding" if p.weight >= 100 else "concurrent")
            if p.weight >= 100 and window == "concurrent":
                self.report(
                    (*where, "baseline_window"),
                    "at weight 100 no traffic is left on the baseline: compare with the preceding window",
                )
                ok = False
            phases.append(Phase(p.name, p.weight, p.min_duration, seconds, p.min_events, window))
        metrics: list[Compared] = []
        names: set[str] = set()
        for k, c in enumerate(spec.metrics):
            where = (*base, "metrics", k)
            if c.name in names:
                self.report((*where, "name"), f"metric {c.name!r} is compared twice")
                ok = False
                continue
            names.add(c.name)
            resolved = self.compared(spec, c, where)
            if resolved is None:
                ok = False
                continue
            metrics.append(resolved)
        if not ok:
            return None
        rollout = Rollout(
            name=spec.name,
            description=spec.description,
            label=spec.label,
            canary=spec.canary,
            baseline=spec.baseline,
            matchers=inner,
            interval=spec.interval,
            interval_seconds=interval,
            confidence=spec.confidence / 100,
            pass_score=spec.pass_score,
            phases=tuple(phases),
            metrics=tuple(metrics),
            severity=spec.severity,
            alert_name=f"{camel(spec.name)}CanaryWorse",
            dashboard_uid=model.dashboard_uid(self.service.name, f"rollout-{spec.name}"),
        )
        # every generated query must pass the same catalogue check as the spec's own queries
        for metric in rollout.metrics:
            for side in ("canary", "baseline"):
                queries = [rollout.events_query(metric, side)]
                if metric.kind == "ratio":
                    queries.append(rollout.numerator_query(metric, side))
                else:
                    queries.append(rollout.buckets_query(metric, side))
                for query in queries:
                    for message in self.check(query):
                        self.report((*base, "matchers") if inner else base, message)
                        ok = False
        return rollout if ok else None


def _matchers(selector: str) -> list[promql_parser.Matcher]:
    try:
        ast = parse(selector)
    except ValueError:
        return []
    if not isinstance(ast, promql_parser.VectorSelector):
        return []
    return list(ast.matchers.matchers)


def resolve_rollouts(
    rollouts: list[RolloutSpec],
    metrics: dict[str, model.Metric],
    service: model.Service,
    report: Report,
    check: QueryCheck,
    taken: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Rollout]:
    """Cross-check every rollout; problems go to ``report`` with their path, resolved rollouts are returned.

    ``taken``: alert names and dashboard uids the rest of the spec already uses."""
    index: Index = {}
    for metric in metrics.values():
        for series, extra in metric.series_names.items():
            index[series] = (metric, extra)
        index.setdefault(metric.name, (metric, ()))
    resolver = _Resolver(index, service, report, check)
    out: list[Rollout] = []
    names: set[str] = set()
    for i, spec in enumerate(rollouts):
        if spec.name in names:
            report(("rollouts", i, "name"), f"rollout {spec.name!r} is defined twice")
            continue
        names.add(spec.name)
        resolved = resolver.rollout(spec, ("rollouts", i))
        if resolved is not None and resolved.alert_name in taken:
            report(("rollouts", i, "name"), f"its alert {resolved.alert_name!r} clashes with another alert")
            continue
        if resolved is not None and resolved.dashboard_uid in taken:
            report(("rollouts", i, "name"), f"its dashboard uid {resolved.dashboard_uid!r} is already used")
            continue
        if resolved is not None:
            out.append(resolved)
    return out
