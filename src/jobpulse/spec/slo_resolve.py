"""Check and resolve the wire ``slos`` section against the metric catalogue."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from decimal import Decimal

import promql_parser

from jobpulse.spec import model
from jobpulse.spec.promql import Selector, parse, references
from jobpulse.spec.slo import (
    MIN_FACTOR,
    PERIOD_BUDGETS,
    SLI,
    SLO,
    TIER_DEFAULTS,
    Tier,
    bucket_spellings,
    camel,
    clean,
    duration_seconds,
    min_bad_events,
)
from jobpulse.spec.wire_slo import SLOSpec
from jobpulse.spec.yamlpos import PathKey

Report = Callable[[PathKey, str], None]
QueryCheck = Callable[[str], list[str]]


def _by(group_by: tuple[str, ...]) -> str:
    return f" by ({', '.join(group_by)}) " if group_by else ""


def _selector_or_template(
    text: str,
    where: PathKey,
    report: Report,
    check: QueryCheck,
    index: dict[str, tuple[model.Metric, tuple[str, ...]]],
    group_by: tuple[str, ...],
) -> tuple[str, Selector | None] | None:
    """A selector becomes ``sum by (G) (increase(SEL[$window]))``; an expression must use ``[$window]``."""
    text = " ".join(text.split())
    try:
        ast = parse(text.replace("$window", "5m"))
    except ValueError as exc:
        report(where, f"invalid PromQL: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'syntax error'}")
        return None
    if isinstance(ast, promql_parser.VectorSelector):
        selector = references(text).selectors[0]
        entry = index.get(selector.name)
        problems = check(text)
        if problems:
            for message in problems:
                report(where, message)
            return None
        assert entry is not None
        metric, extra = entry
        if metric.type == "gauge":
            report(where, f"{selector.name} is a gauge; SLI events must be counters (or a histogram's _count/_bucket)")
            return None
        missing = [g for g in group_by if g not in metric.label_names and g not in extra]
        if missing:
            report(where, f"group_by label {', '.join(missing)} is not a label of {selector.name}")
            return None
        return f"sum{_by(group_by)}(increase({text}[$window]))", selector
    if "$window" not in text:
        report(where, "an SLI expression must use [$window] as its range, e.g. sum(increase(x_total[$window]))")
        return None
    for message in check(text.replace("$window", "5m")):
        report(where, message)
    return text, None


def _latency(
    slo: SLOSpec,
    base: PathKey,
    report: Report,
    metrics: dict[str, model.Metric],
    check: QueryCheck,
    group_by: tuple[str, ...],
) -> SLI | None:
    latency = slo.sli.latency
    assert latency is not None
    where = (*base, "sli", "latency")
    metric = metrics.get(latency.metric)
    if metric is None:
        report((*where, "metric"), f"unknown metric {latency.metric!r}")
        return None
    if metric.type != "histogram" or metric.buckets is None:
        report((*where, "metric"), f"{latency.metric} is a {metric.type}; a latency SLI needs a histogram")
        return None
    buckets = list(metric.buckets)
    if not any(abs(b - latency.threshold) <= 1e-9 * max(1.0, abs(b)) for b in buckets):
        i = bisect.bisect_left(buckets, latency.threshold)
        near = [f"{b:g}" for b in buckets[max(0, i - 1) : i + 1]]
        report(
            (*where, "threshold"),
            f"threshold {latency.threshold:g} is not a bucket boundary of {latency.metric}; "
            f"the nearest boundaries are {' and '.join(near)} ({metric.unit})",
        )
        return None
    missing = [g for g in group_by if g not in metric.label_names]
    if missing:
        report((*base, "group_by"), f"group_by label {', '.join(missing)} is not a label of {latency.metric}")
        return None
    inner = latency.selector[1:-1].strip().rstrip(",") if latency.selector else ""
    spellings = bucket_spellings(latency.threshold)
    le = spellings[0]
    # Python clients expose le="2.0", Go clients le="2": match both, or one of them reads as "no fast requests"
    le_matcher = f'le="{le}"' if len(spellings) == 1 else f'le=~"{"|".join(re.escape(v) for v in spellings)}"'
    le_matcher = le_matcher.replace("\\", "\\\\")
    count = f"{metric.name}_count{{{inner}}}" if inner else f"{metric.name}_count"
    bucket = f"{metric.name}_bucket{{{inner + ', ' if inner else ''}{le_matcher}}}"
    for message in check(count) + check(bucket):
        report((*where, "selector"), message)
        return None
    return SLI(
        kind="latency",
        total=f"sum{_by(group_by)}(increase({count}[$window]))",
        good=f"sum{_by(group_by)}(increase({bucket}[$window]))",
        bad=None,
        total_selector=references(count).selectors[0],
        event_selector=references(bucket).selectors[0],
        latency_metric=metric.name,
        latency_threshold=latency.threshold,
        latency_le=le,
        latency_matchers=inner,
    )


def resolve_slos(
    slos: list[SLOSpec],
    metrics: dict[str, model.Metric],
    service: model.Service,
    report: Report,
    check: QueryCheck,
) -> list[SLO]:
    index: dict[str, tuple[model.Metric, tuple[str, ...]]] = {}
    for metric in metrics.values():
        for series, extra in metric.series_names.items():
            index[series] = (metric, extra)
    out: list[SLO] = []
    names: set[str] = set()
    for i, spec in enumerate(slos):
        base: PathKey = ("slos", i)
        if spec.name in names:
            report((*base, "name"), f"SLO {spec.name!r} is defined twice")
            continue
        names.add(spec.name)
        group_by = tuple(spec.group_by)
        sli: SLI | None
        if spec.sli.latency is not None:
            sli = _latency(spec, base, report, metrics, check, group_by)
        else:
            events = spec.sli.events
            assert events is not None
            where = (*base, "sli", "events")
            total = _selector_or_template(events.total, (*where, "total"), report, check, index, group_by)
            kind, text = ("good", events.good) if events.good is not None else ("bad", events.bad)
            assert text is not None
            part = _selector_or_template(text, (*where, kind), report, check, index, group_by)
            if total is None or part is None:
                continue
            sli = SLI(
                kind="events",
                total=total[0],
                good=part[0] if kind == "good" else None,
                bad=part[0] if kind == "bad" else None,
                total_selector=total[1],
                event_selector=part[1],
            )
        if sli is None:
            continue
        objective = Decimal(clean(Decimal(str(spec.objective))))
        budget = (Decimal(100) - objective) / Decimal(100)
        period_seconds = duration_seconds(spec.period)
        spent_per_tier = PERIOD_BUDGETS.get(period_seconds, tuple(d.budget_spent for d in TIER_DEFAULTS))
        tiers: list[Tier] = []
        unreachable: list[str] = []
        for default, spent in zip(TIER_DEFAULTS, spent_per_tier, strict=True):
            override = spec.alerts.tiers.get(default.name)  # type: ignore[call-overload]
            if override is not None and not override.enabled:
                continue
            factor = spent * period_seconds / duration_seconds(default.long)
            factor = Decimal(clean(factor))
            if duration_seconds(default.long) > period_seconds:
                unreachable.append(
                    f"{default.name} (its {default.long} window is longer than the {spec.period} period)"
                )
                continue
            if factor < MIN_FACTOR:
                unspent = clean((1 - factor) * 100)
                unreachable.append(
                    f"{default.name} (burn factor {clean(factor)} for a {spec.period} period: it would fire on a burn "
                    f"that leaves {unspent}% of the budget unspent at the end of the period; windows are designed for "
                    "7d and for 28d or longer)"
                )
                continue
            if factor * budget >= 1:
                unreachable.append(
                    f"{default.name} (burn factor {clean(factor)} × budget {clean(budget)} ≥ 1: it could never fire)"
                )
                continue
            severity = spec.alerts.page_severity if default.kind == "page" else spec.alerts.ticket_severity
            for_ = override.for_ if override is not None and override.for_ is not None else default.for_
            tiers.append(
                Tier(
                    default.name,
                    default.kind,
                    severity,
                    default.long,
                    default.short,
                    spent,
                    factor,
                    None if for_ in ("0s", "0m") else for_,
                    min_bad_events(factor, default.kind)
                    if spec.alerts.min_bad_events is None
                    else spec.alerts.min_bad_events,
                )
            )
        alert_name = f"{camel(spec.name)}ErrorBudgetBurn"
        anchor = alert_name.lower()
        uid = model.dashboard_uid(service.name, f"slo-{spec.name}")
        out.append(
            SLO(
                name=spec.name,
                description=spec.description,
                objective=objective,
                period=spec.period,
                calendar=spec.calendar,
                sli=sli,
                group_by=group_by,
                tiers=tuple(tiers),
                min_events=spec.alerts.min_events,
                absent_enabled=spec.alerts.absent.enabled,
                absent_for=spec.alerts.absent.for_,
                absent_severity=spec.alerts.absent.severity,
                labels=dict(spec.alerts.labels),
                runbook=spec.runbook.strip(),
                runbook_url=f"{service.runbook_base_url}docs/alerts.md#{anchor}",
                alert_name=alert_name,
                absent_alert_name=f"{camel(spec.name)}SLIAbsent",
                anchor=anchor,
                dashboard_uid=uid,
                unreachable_tiers=tuple(unreachable),
                ticket_severity=spec.alerts.ticket_severity,
            )
        )
    return out
