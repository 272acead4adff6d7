"""The rollout part of a backtest report: verdicts per phase (Markdown, JSON) and one plot per scenario."""

from __future__ import annotations

from typing import Any

from jobpulse.canary.judge import format_value
from jobpulse.canary.report import verdict_json
from jobpulse.verify.backtest.plots import _png, _pyplot
from jobpulse.verify.backtest.rollout import RolloutResult

VERDICT_COLORS = {"pass": "#2ca02c", "fail": "#d62728", "inconclusive": "#ff7f0e"}


def rollout_plot(result: RolloutResult) -> bytes:
    """Per compared metric: canary and baseline per interval; phases shaded in their verdict's colour."""
    plt = _pyplot()
    metrics = result.rollout.metrics
    fig, axes = plt.subplots(len(metrics), 1, figsize=(11, 2.8 * len(metrics) + 0.6), sharex=True, squeeze=False)
    for ax, metric in zip((row[0] for row in axes), metrics, strict=True):
        scale = 100.0 if metric.kind == "ratio" else 1.0
        for side, color in (("baseline", "#1f77b4"), ("canary", "#9467bd")):
            points = result.series.get(metric.name, {}).get(side, [])
            ax.plot([t / 60 for t, _ in points], [v * scale for _, v in points], lw=1, color=color, label=side)
        for phase in result.phases:
            verdict = next(m for m in phase.verdict.metrics if m.metric.name == metric.name)
            ax.axvspan(phase.start / 60, phase.end / 60, color=VERDICT_COLORS[verdict.verdict], alpha=0.12, lw=0)
            ax.text(
                (phase.start + phase.end) / 120,
                1.0,
                f"{phase.name}: {verdict.verdict}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
                color=VERDICT_COLORS[verdict.verdict],
            )
        unit = "%" if metric.kind == "ratio" else metric.unit
        ax.set_ylabel(f"{metric.name} ({unit})")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
    last = axes[-1][0]
    last.set_xlabel(
        "simulated minutes since the start; phases shaded by the metric's verdict "
        "(green pass, red fail, orange inconclusive)"
    )
    fig.suptitle(f"{result.scenario.name}: canary vs baseline, one value per {result.rollout.interval}", fontsize=10)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def rollout_json(result: RolloutResult) -> dict[str, Any]:
    s = result.scenario
    return {
        "rollout": result.rollout.name,
        "scenario": s.name,
        "description": s.description,
        "requests_per_minute": s.rate,
        "requests": result.requests,
        "ok": result.ok,
        "phases": [
            {
                "expected": p.expected,
                "ok": p.ok,
                "start_seconds": p.start,
                "end_seconds": p.end,
                **verdict_json(p.verdict),
            }
            for p in result.phases
        ],
    }


def rollout_markdown(results: list[RolloutResult], images: dict[str, str]) -> list[str]:
    """The report's rollout section; ``images``: ``rollout/scenario`` → the plot's path in the report."""
    if not results:
        return []
    lines = [
        "## Rollouts",
        "",
        "Each rollout scenario sends Poisson traffic through the spec's real job tracker, split between the sides "
        "by each phase's weight (independent failures and log-normal latencies), loads it into a real Prometheus "
        "and judges every phase at its end as `jobpulse canary --phase NAME --at END` would.",
        "",
        "| rollout | scenario | " + " | ".join(p.name for p in results[0].phases) + " | result |",
        "|---|---|" + "---|" * len(results[0].phases) + "---|",
    ]
    for r in results:
        cells = []
        for p in r.phases:
            mark = "" if p.ok else f" (expected {p.expected})"
            cells.append(f"{p.verdict.verdict}{mark}")
        lines.append(
            f"| {r.rollout.name} | {r.scenario.name} | " + " | ".join(cells) + f" | {'ok' if r.ok else '**FAIL**'} |"
        )
    lines.append("")
    for r in results:
        lines += [f"### {r.rollout.name}: {r.scenario.name}", "", r.scenario.description, ""]
        lines += ["| phase | verdict | metric | canary | baseline | p | why |", "|---|---|---|---|---|---|---|"]
        for p in r.phases:
            for m in p.verdict.metrics:
                p_value = "" if m.test is None else f"{m.test.p_value:.2g}"
                lines.append(
                    f"| {p.name} | {p.verdict.verdict} | {m.metric.name}: {m.verdict} | "
                    f"{format_value(m.metric, m.canary.value)} ({m.canary.events:,.0f}) | "
                    f"{format_value(m.metric, m.baseline.value)} ({m.baseline.events:,.0f}) | {p_value} | {m.reason} |"
                )
        lines.append("")
        image = images.get(f"{r.rollout.name}/{r.scenario.name}")
        if image is not None:
            lines += [f"![{r.rollout.name}: {r.scenario.name}]({image})", ""]
    return lines
