"""SLO recording rules and multi-window, multi-burn-rate alerts.

Every ratio is computed from summed counts (``increase``) over its window — the period-level ratio too — so
uneven traffic is weighted correctly. A window without events gives 0, never NaN or Inf:
``(bad / (total > 0)) or (0 * total)``. A latency SLI whose threshold bucket is missing while events are counted
(a bucket spelt differently, a changed bucket layout) has no ratio at all — it is unmeasurable, and an alert
says so — rather than reading every request as slow.
"""

from __future__ import annotations

from typing import Any

from jobpulse.spec.model import Spec
from jobpulse.spec.slo import SLO, UNMEASURABLE_WINDOW, Tier, clean, duration_seconds

ERROR_RATIO = "slo:sli_error:ratio_rate{window}"
EVENTS = "slo:sli_events:increase{window}"
BAD_EVENTS = "slo:sli_bad_events:increase{window}"
OBJECTIVE = "slo:objective:ratio"
BUDGET = "slo:error_budget:ratio"
REMAINING = "slo:error_budget:remaining"
BURN_PERIOD = "slo:burn_rate:period"


def _w(template: str, window: str) -> str:
    return template.replace("$window", window)


def selector(slo: SLO) -> str:
    return f'{{slo="{slo.name}"}}'


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def bad_events(slo: SLO, window: str) -> str:
    """Bad events over ``window``; for a latency SLI, nothing when the threshold bucket is missing."""
    sli = slo.sli
    total = _w(sli.total, window)
    if sli.bad is not None:
        return _w(sli.bad, window)
    assert sli.good is not None
    if sli.kind == "latency":  # a histogram always exposes every bucket: a missing one is a mismatch, not zero
        return f"(\n  {total}\n  -\n  {_w(sli.good, window)}\n)"
    return f"(\n  {total}\n  -\n  ({_w(sli.good, window)} or 0 * {total})\n)"


def error_ratio_expr(slo: SLO, window: str) -> str:
    total = _w(slo.sli.total, window)
    idle = f"0 * ({total} == 0)" if slo.sli.kind == "latency" else f"0 * {total}"
    return f"(\n{_indent(bad_events(slo, window))}\n  /\n  ({total} > 0)\n)\nor\n{idle}"


def recording_rules(slo: SLO) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    rules: list[dict[str, Any]] = []
    guarded = {tier.long for tier in slo.tiers if tier.min_bad_events > 0}
    for window in slo.windows():
        rules.append({"record": EVENTS.format(window=window), "expr": _w(slo.sli.total, window), "labels": labels})
        if window in guarded:
            rules.append(
                {"record": BAD_EVENTS.format(window=window), "expr": bad_events(slo, window), "labels": labels}
            )
        rules.append(
            {"record": ERROR_RATIO.format(window=window), "expr": error_ratio_expr(slo, window), "labels": labels}
        )
    period_ratio = f"{ERROR_RATIO.format(window=slo.period)}{selector(slo)}"
    rules += [
        {"record": OBJECTIVE, "expr": f"vector({clean(slo.objective_ratio)})", "labels": labels},
        {"record": BUDGET, "expr": f"vector({clean(slo.budget)})", "labels": labels},
        {"record": REMAINING, "expr": f"1 - {period_ratio} / {clean(slo.budget)}", "labels": labels},
        {"record": BURN_PERIOD, "expr": f"{period_ratio} / {clean(slo.budget)}", "labels": labels},
    ]
    return rules


def tier_threshold(slo: SLO, tier: Tier) -> str:
    return clean(tier.factor * slo.budget)


def tier_expr(slo: SLO, tier: Tier) -> str:
    threshold = tier_threshold(slo, tier)
    sel = selector(slo)
    short = f"{ERROR_RATIO.format(window=tier.short)}{sel} > {threshold}"
    long = f"{ERROR_RATIO.format(window=tier.long)}{sel} > {threshold}"
    expr = f"(\n  {short}\nand\n  {long}\n)"
    if slo.min_events > 0:
        expr += f"\nand\n{EVENTS.format(window=tier.long)}{sel} >= {slo.min_events}"
    if tier.min_bad_events > 0:
        expr += f"\nand\n{BAD_EVENTS.format(window=tier.long)}{sel} >= {tier.min_bad_events}"
    if tier.kind == "ticket":
        # a young long window is a short one: a ticket waits until the SLI has data for twice its short window
        # (counted in evaluations of the recorded short-window events, so traffic does not matter)
        seen = f"{EVENTS.format(window=tier.short)}{sel}"
        expr += f"\nand\ncount_over_time({seen}[{tier.long}]) >= 2 * count_over_time({seen}[{tier.short}])"
    return expr


def _group_suffix(slo: SLO) -> str:
    if not slo.group_by:
        return ""
    return " (" + ", ".join(f"{g}={{{{ $labels.{g} }}}}" for g in slo.group_by) + ")"


def tier_annotations(spec: Spec, slo: SLO, tier: Tier) -> dict[str, str]:
    spent = clean(tier.budget_spent * 100)
    minutes = duration_seconds(tier.long) / 60
    return {
        "summary": f"SLO {slo.name}{_group_suffix(slo)} is burning its error budget {clean(tier.factor)}x too fast",
        "description": (
            f"The error ratio over both the last {tier.long} and the last {tier.short} is above "
            f"{tier_threshold(slo, tier)} ({clean(tier.factor)} x the {clean(slo.budget)} budget of a "
            f"{clean(slo.objective)}% objective over {slo.period}). At this rate {spent}% of the {slo.period} error "
            f"budget is spent every {tier.long} ({clean(minutes)} minutes)."
        ),
        "runbook_url": slo.runbook_url,
        "dashboard": f"{spec.service.grafana_url}/d/{slo.dashboard_uid}",
    }


def tier_labels(slo: SLO, tier: Tier, service: str) -> dict[str, str]:
    return {
        "severity": tier.severity,
        "service": service,
        "slo": slo.name,
        "tier": tier.name,
        "long_window": tier.long,
        "short_window": tier.short,
        **slo.labels,
    }


def alert_rules(spec: Spec, slo: SLO) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for tier in slo.tiers:
        rule: dict[str, Any] = {"alert": slo.alert_name, "expr": tier_expr(slo, tier)}
        if tier.for_:
            rule["for"] = tier.for_
        rule["labels"] = tier_labels(slo, tier, spec.service.name)
        rule["annotations"] = tier_annotations(spec, slo, tier)
        rules.append(rule)
    if slo.sli.kind == "latency":
        rules.append(unmeasurable_rule(spec, slo))
    if slo.absent_enabled and slo.sli.total_selector is not None:
        sel = slo.sli.total_selector
        matchers = ", ".join(f'{m.label}{m.op}"{m.value}"' for m in sel.matchers if m.label != "__name__")
        absent = f"absent({sel.name}{{{matchers}}})" if matchers else f"absent({sel.name})"
        rules.append(
            {
                "alert": slo.absent_alert_name,
                # not before Prometheus has scraped anything (`up` exists): a server that just started evaluates
                # its rules before the first scrape, and every SLI is absent then
                "expr": f"{absent}\nunless on() absent(up)",
                "for": slo.absent_for,
                "labels": {
                    "severity": slo.absent_severity,
                    "service": spec.service.name,
                    "slo": slo.name,
                    **slo.labels,
                },
                "annotations": {
                    "summary": f"SLO {slo.name}: its SLI metric {sel.name} is absent",
                    "description": (
                        f"No series of {sel.name} for {slo.absent_for}: the SLO cannot be computed and its burn-rate "
                        "alerts cannot fire. Check that the service is up and scraped."
                    ),
                    "runbook_url": slo.runbook_url.rsplit("#", 1)[0] + "#" + slo.absent_alert_name.lower(),
                    "dashboard": f"{spec.service.grafana_url}/d/{slo.dashboard_uid}",
                },
            }
        )
    return rules


def unmeasurable_rule(spec: Spec, slo: SLO) -> dict[str, Any]:
    """A latency SLI with events but no threshold bucket: no ratio, so say so instead of staying silent."""
    sel = selector(slo)
    window = UNMEASURABLE_WINDOW
    return {
        "alert": slo.unmeasurable_alert_name,
        "expr": f"{EVENTS.format(window=window)}{sel} > 0\nunless\n{ERROR_RATIO.format(window=window)}{sel}",
        "for": "15m",
        "labels": {"severity": slo.ticket_severity, "service": spec.service.name, "slo": slo.name, **slo.labels},
        "annotations": {
            "summary": f"SLO {slo.name} cannot be measured: {slo.sli.latency_metric} has no bucket "
            f"le={slo.sli.latency_le}",
            "description": (
                f"{slo.sli.latency_metric}_count counted {{{{ $value }}}} events over the last {window}, but no "
                f"{slo.sli.latency_metric}_bucket series with le={slo.sli.latency_le} (or its other spelling) exists: "
                "the bucket layout changed or the threshold is not a boundary. The burn-rate alerts of this SLO "
                "cannot fire until the threshold matches a bucket again."
            ),
            "runbook_url": slo.runbook_url.rsplit("#", 1)[0] + "#" + slo.unmeasurable_alert_name.lower(),
            "dashboard": f"{spec.service.grafana_url}/d/{slo.dashboard_uid}",
        },
    }


def slo_groups(spec: Spec) -> list[dict[str, Any]]:
    """One rule group per SLO: recording rules first, then its alerts (a group evaluates in order)."""
    return [
        {
            "name": f"{spec.service.name}.slo.{slo.name}",
            "interval": spec.service.evaluation_interval,
            "rules": recording_rules(slo) + alert_rules(spec, slo),
        }
        for slo in spec.slos
    ]
