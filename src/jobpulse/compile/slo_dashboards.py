"""One error-budget dashboard per SLO: current SLI, budget remaining, burn rate per window with the tier
thresholds drawn, SLI and event rate over time, and (with ``calendar``) the budget of the current month/week."""

from __future__ import annotations

from jobpulse.compile.slo_rules import ERROR_RATIO, EVENTS, REMAINING, selector
from jobpulse.spec.model import Dashboard, Panel, Target, ref_id
from jobpulse.spec.slo import SLO, clean, duration_seconds

_TIER_COLORS = ("yellow", "orange", "red", "dark-red")


def _panel(
    number: int, title: str, kind: str, unit: str, exprs: list[tuple[str, str]], width: int, **extra: object
) -> Panel:
    targets = tuple(Target(expr, legend, kind != "timeseries", ref_id(i)) for i, (expr, legend) in enumerate(exprs))
    return Panel(
        id=number,
        title=title,
        type=kind,
        description=str(extra.pop("description", "")),
        targets=targets,
        unit=unit,
        width=width,
        height=8 if kind == "timeseries" else 5,
        decimals=extra.pop("decimals", None),  # type: ignore[arg-type]
        min=extra.pop("min", None),  # type: ignore[arg-type]
        max=extra.pop("max", None),  # type: ignore[arg-type]
        thresholds=extra.pop("thresholds", ()),  # type: ignore[arg-type]
        time_from=extra.pop("time_from", None),  # type: ignore[arg-type]
    )


def _calendar_budget(slo: SLO) -> str:
    """Budget remaining over the dashboard's (calendar) time range, from summed counts."""
    total = slo.sli.total.replace("$window", "$__range")
    if slo.sli.bad is not None:
        bad = slo.sli.bad.replace("$window", "$__range")
    else:
        assert slo.sli.good is not None
        good = slo.sli.good.replace("$window", "$__range")
        bad = f"({total} - ({good} or 0 * {total}))"
    return f"1 - ((({bad}) / ({total} > 0)) or 0 * {total}) / {clean(slo.budget)}"


def slo_dashboard(slo: SLO, service_title: str) -> Dashboard:
    sel = selector(slo)
    budget = clean(slo.budget)
    objective = float(slo.objective_ratio)
    period = slo.period
    panels: list[Panel] = [
        _panel(
            1,
            f"SLI over {period}",
            "stat",
            "percentunit",
            [(f"1 - {ERROR_RATIO.format(window=period)}{sel}", "SLI")],
            6,
            decimals=3,
            thresholds=((0.0, "red"), (objective, "green")),
            description=f"Good events / all events over the rolling {period}; objective {clean(slo.objective)}%.",
        ),
        _panel(
            2,
            "Error budget remaining",
            "stat",
            "percentunit",
            [(f"{REMAINING}{sel}", "remaining")],
            6,
            decimals=1,
            thresholds=((0.0, "red"), (0.25, "orange"), (0.5, "green")),
            description=f"1 - (error ratio over {period}) / {budget}; below 0 the budget is overspent.",
        ),
        _panel(
            3,
            f"Events over {period}",
            "stat",
            "short",
            [(f"{EVENTS.format(window=period)}{sel}", "events")],
            6,
            decimals=0,
            description="How many events the SLI counted over the period (low counts: noisy SLI).",
        ),
        _panel(
            4,
            "Objective",
            "stat",
            "percentunit",
            [("slo:objective:ratio" + sel, "objective")],
            6,
            decimals=3,
        ),
    ]
    windows = sorted({t.long for t in slo.tiers} | {t.short for t in slo.tiers} | {"5m"}, key=duration_seconds)
    burn_targets = [(f"{ERROR_RATIO.format(window=w)}{sel} / {budget}", f"burn rate {w}") for w in windows]
    factors = sorted({float(t.factor) for t in slo.tiers})
    thresholds = ((0.0, "green"), *((f, _TIER_COLORS[i % len(_TIER_COLORS)]) for i, f in enumerate(factors)))
    tier_list = ", ".join(f"{t.name} {clean(t.factor)}x" for t in slo.tiers) or "no tiers enabled"
    panels.append(
        _panel(
            5,
            "Burn rate by window",
            "timeseries",
            "short",
            burn_targets,
            24,
            min=0,
            thresholds=thresholds,
            description=f"Error ratio / budget per window; dashed lines are the alert tiers' factors ({tier_list}).",
        )
    )
    panels.append(
        _panel(
            6,
            "SLI (5m)",
            "timeseries",
            "percentunit",
            [(f"1 - {ERROR_RATIO.format(window='5m')}{sel}", "SLI 5m")],
            12,
            thresholds=((0.0, "red"), (objective, "green")),
            max=1,
        )
    )
    panels.append(
        _panel(
            7,
            "Events per second",
            "timeseries",
            "ops",
            [(f"{EVENTS.format(window='5m')}{sel} / 300", "events/s")],
            12,
            min=0,
        )
    )
    if slo.calendar:
        unit = {"month": "M", "week": "w"}[slo.calendar]
        panels.append(
            _panel(
                8,
                f"Error budget remaining this {slo.calendar}",
                "stat",
                "percentunit",
                [(_calendar_budget(slo), "")],
                12,
                decimals=1,
                time_from=f"now/{unit}",
                thresholds=((0.0, "red"), (0.25, "orange"), (0.5, "green")),
                description=f"The same budget over the calendar {slo.calendar} so far (for reporting).",
            )
        )
    return Dashboard(
        uid=slo.dashboard_uid,
        title=f"SLO {slo.name} ({service_title})",
        description=slo.description or f"Error budget of SLO {slo.name}: {clean(slo.objective)}% over {period}.",
        tags=("slo",),
        refresh="1m",
        time_from="7d",
        panels=tuple(panels),
    )
