"""One dashboard per rollout: for each compared metric, both sides' values, their events and the rules' verdict."""

from __future__ import annotations

from jobpulse.compile.canary_rules import EVENTS, VALUE, VERDICT, min_events, window
from jobpulse.spec.model import Dashboard, Panel, Target
from jobpulse.spec.rollout import Compared, Rollout

_UNITS = {"ratio": "percentunit", "seconds": "s", "milliseconds": "ms"}


def _labels(rollout: Rollout, metric: Compared) -> str:
    return f'{{rollout="{rollout.name}", metric="{metric.name}"}}'


def rollout_dashboard(rollout: Rollout, service_title: str) -> Dashboard:
    w = window(rollout)
    panels: list[Panel] = []
    for metric in rollout.metrics:
        sel = _labels(rollout, metric)
        critical = " (critical)" if metric.critical else ""
        panels.append(
            Panel(
                id=len(panels) + 1,
                title=f"{metric.name}{critical}: verdict",
                type="stat",
                description=(
                    f"1 = the canary is worse than the baseline beyond the allowed difference over {w}; 0 = not "
                    f"worse; -1 = too little traffic to say (fewer than {min_events(rollout)} events on a side). "
                    "The phase's verdict with the statistical test: `jobpulse canary`."
                ),
                targets=(Target(f"{VERDICT.format(window=w)}{sel}", "verdict", True, "A"),),
                unit="none",
                width=4,
                height=8,
                decimals=0,
                min=-1,
                max=1,
                thresholds=((0.0, "orange"), (0.0, "green"), (1.0, "red")),
            )
        )
        panels.append(
            Panel(
                id=len(panels) + 1,
                title=f"{metric.name}: canary vs baseline",
                type="timeseries",
                description=f"{metric.describe()} over {w}, per side. {metric.description}".strip(),
                targets=(Target(f"{VALUE.format(window=w)}{sel}", "{{side}}", False, "A"),),
                unit=_UNITS.get(metric.unit, "short"),
                width=12,
                height=8,
                decimals=None,
                min=0,
                max=None,
            )
        )
        panels.append(
            Panel(
                id=len(panels) + 1,
                title=f"{metric.name}: events per side",
                type="timeseries",
                description=f"Events behind each side's value over {w}; the rules judge from {min_events(rollout)}.",
                targets=(Target(f"{EVENTS.format(window=w)}{sel}", "{{side}}", False, "A"),),
                unit="short",
                width=8,
                height=8,
                decimals=None,
                min=0,
                max=None,
            )
        )
    description = rollout.description or f"Canary analysis of rollout {rollout.name}."
    return Dashboard(
        uid=rollout.dashboard_uid,
        title=f"{service_title}: rollout {rollout.name}",
        description=f"{description} Label {rollout.label}: {rollout.canary} vs {rollout.baseline}.",
        tags=("jobpulse", "rollout"),
        refresh="30s",
        time_from="3h",
        panels=tuple(panels),
    )
