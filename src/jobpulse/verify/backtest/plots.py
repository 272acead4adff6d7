"""PNG plots of a scenario (matplotlib, Agg backend): alert firing timeline, and per SLO its SLI and burn rates.

Plots are byte-for-byte reproducible (no timestamps or version in the PNG metadata) so the committed
example report only changes when the backtest does.
"""

from __future__ import annotations

import io
from typing import Any

from jobpulse.verify.backtest.run import AlertOutcome, ScenarioResult, SLOSeries

COLORS = ("#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
FAULT_COLOR = "#999999"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "jobpulse", "font.size": 9})
    return plt


def _unit(duration: float) -> tuple[float, str]:
    return (86400.0, "days") if duration > 3 * 86400 else (3600.0, "hours")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _shade_faults(ax: Any, result: ScenarioResult, scale: float) -> None:
    for index, fault in enumerate(result.scenario.faults):
        ax.axvspan(
            fault.start / scale,
            fault.end / scale,
            color=FAULT_COLOR,
            alpha=0.25,
            lw=0,
            label="fault" if index == 0 else None,
        )


def timeline(result: ScenarioResult) -> bytes:
    """One row per alerting rule; firing intervals as bars, fault windows shaded."""
    plt = _pyplot()
    alerts = result.alerts
    scale, unit = _unit(result.scenario.duration)
    end = result.scenario.duration
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.32 * max(1, len(alerts))))
    _shade_faults(ax, result, scale)
    for row, outcome in enumerate(reversed(alerts)):
        color = _row_color(outcome)
        for firing in outcome.firings:
            stop = end if firing.end is None else firing.end
            ax.broken_barh(
                [(firing.start / scale, max(stop - firing.start, 1.0) / scale)], (row - 0.35, 0.7), color=color
            )
    ax.set_yticks(range(len(alerts)), [_label(a) for a in reversed(alerts)])
    ax.set_xlim(0, end / scale)
    ax.set_ylim(-0.7, len(alerts) - 0.3)
    ax.set_xlabel(f"simulated time ({unit} since the start)")
    ax.set_title(f"{result.scenario.name}: firing alerts (green: expected, red: a problem), faults in grey")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def _label(outcome: AlertOutcome) -> str:
    mark = {"fire": " (expected)", "silent": " (must be silent)"}.get(outcome.expected or "", "")
    return outcome.ref + mark


def _row_color(outcome: AlertOutcome) -> str:
    if outcome.problems:
        return "#d62728"
    if outcome.expected == "fire":
        return "#2ca02c"
    return "#1f77b4"


def slo_plot(result: ScenarioResult, series: SLOSeries) -> bytes:
    """SLI (1 - error ratio) against the objective; burn rate per window with each tier's threshold."""
    plt = _pyplot()
    slo = series.slo
    scale, unit = _unit(result.scenario.duration)
    xs = [t / scale for t in series.times]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    for ax in (top, bottom):
        _shade_faults(ax, result, scale)
    budget = float(slo.budget)
    for window in ("5m", "1h"):
        ratios = series.ratios.get(window)
        if ratios is None:
            continue
        ys = [None if r is None else 100.0 * (1.0 - r) for r in ratios]
        top.plot(xs, [float("nan") if y is None else y for y in ys], lw=1, label=f"SLI over {window}")
    top.axhline(float(slo.objective), color="black", ls="--", lw=1, label=f"objective {slo.objective}%")
    top.set_ylabel("good events (%)")
    lowest = min([100.0 * (1 - (r or 0.0)) for rs in series.ratios.values() for r in rs] + [float(slo.objective)])
    top.set_ylim(max(0.0, lowest - (100.0 - lowest) * 0.1 - 0.5), 100.2)
    top.set_title(f"{result.scenario.name}: SLO {slo.name} ({slo.objective}% over {slo.period})")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    top.grid(alpha=0.3)
    firing = [a for a in result.alerts if a.rule.label_dict.get("slo") == slo.name and "tier" in a.rule.label_dict]
    for index, tier in enumerate(slo.tiers):
        color = COLORS[index % len(COLORS)]
        for window, style in ((tier.long, "-"), (tier.short, "--")):
            ratios = series.ratios.get(window)
            if ratios is None:
                continue
            burn = [float("nan") if r is None else r / budget for r in ratios]
            bottom.plot(xs, burn, lw=1, ls=style, color=color, label=f"{tier.name}: burn over {window}")
        bottom.axhline(float(tier.factor), color=color, ls=":", lw=1.4, label=f"{tier.name}: threshold {tier.factor}x")
        for outcome in firing:
            if outcome.rule.label_dict.get("tier") != tier.name:
                continue
            for f in outcome.firings:
                stop = result.scenario.duration if f.end is None else f.end
                bottom.axvspan(f.start / scale, stop / scale, color=color, alpha=0.15, lw=0)
    bottom.set_yscale("symlog", linthresh=1.0)
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("burn rate (x budget)")
    bottom.set_xlabel(f"simulated time ({unit} since the start); shaded: fault (grey), tier firing (tier colour)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, result.scenario.duration / scale)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data
