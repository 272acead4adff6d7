"""A phase verdict as text (terminal), JSON (pipelines) or Markdown (a pull-request comment)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from jobpulse.canary.judge import MetricVerdict, PhaseVerdict, format_difference, format_value


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.{digits}g}")


def _length(seconds: float) -> str:
    """``30m``, ``1h30m``, ``36s``, ``2m30s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


def _window(v: PhaseVerdict) -> str:
    text = f"{_time(v.start)} to {_time(v.end)} ({_length(v.end - v.start)})"
    if (v.baseline_start, v.baseline_end) != (v.start, v.end):
        text += f"; baseline from the preceding window, {_time(v.baseline_start)} to {_time(v.baseline_end)}"
    return text


def metric_line(m: MetricVerdict) -> str:
    """``canary 3.02% vs baseline 1.01% (+2.01 pp, 2.99x)`` then the test's numbers, when it ran."""
    metric = m.metric
    text = (
        f"canary {format_value(metric, m.canary.value)} ({m.canary.events:,.0f} events) vs baseline "
        f"{format_value(metric, m.baseline.value)} ({m.baseline.events:,.0f} events)"
    )
    if m.difference is not None:
        ratio = m.canary.value / m.baseline.value if m.baseline.value else None
        text += f", {format_difference(metric, m.difference)}" + (f" ({ratio:.3g}x)" if ratio is not None else "")
    if m.test is not None:
        t = m.test
        text += (
            f"; Mann-Whitney U p={t.p_value:.2g} on {m.canary.samples}+{m.baseline.samples} samples"
            f" (outliers dropped {m.canary.outliers}+{m.baseline.outliers}), Hodges-Lehmann shift "
            f"{format_difference(metric, t.shift)} [{format_difference(metric, t.low)}, "
            f"{format_difference(metric, t.high)}], P(canary > baseline) {t.canary_higher:.2f}"
        )
    return text


def render_text(v: PhaseVerdict) -> str:
    lines = [
        f"rollout {v.rollout.name}, phase {v.phase.name} (weight {v.phase.weight:g}%): {v.verdict.upper()}",
        f"  window {_window(v)}, one sample per {v.rollout.interval} per side",
    ]
    lines += [f"  note: {note}" for note in v.notes]
    for m in v.metrics:
        critical = " (critical)" if m.metric.critical else ""
        lines.append(f"  {m.verdict:<12} {m.metric.name}{critical}: {m.reason}")
        lines.append(f"               {metric_line(m)}")
    lines.append(f"verdict: {v.verdict} - {v.reason}")
    return "\n".join(lines) + "\n"


def _side(m: MetricVerdict, side: str) -> dict[str, Any]:
    s = m.canary if side == "canary" else m.baseline
    return {
        "value": _num(s.value),
        "events": _num(s.events),
        "samples": s.samples,
        "outliers_removed": s.outliers,
        "intervals_with_data": s.intervals_with_data,
    }


def verdict_json(v: PhaseVerdict) -> dict[str, Any]:
    return {
        "rollout": v.rollout.name,
        "phase": v.phase.name,
        "weight_percent": v.phase.weight,
        "verdict": v.verdict,
        "reason": v.reason,
        "exit_code": v.exit_code,
        "score_percent": _num(v.score),
        "window": {"start": _time(v.start), "end": _time(v.end), "interval": v.rollout.interval},
        "baseline_window": {"start": _time(v.baseline_start), "end": _time(v.baseline_end)},
        "canary_traffic_share": _num(v.canary_share),
        "confidence_percent": v.rollout.confidence * 100,
        "notes": v.notes,
        "metrics": [
            {
                "name": m.metric.name,
                "query": m.metric.describe(),
                "critical": m.metric.critical,
                "direction_bad": m.metric.direction,
                "verdict": m.verdict,
                "reason": m.reason,
                "canary": _side(m, "canary"),
                "baseline": _side(m, "baseline"),
                "difference": _num(m.difference),
                "relative_difference": _num(m.relative),
                "allowed_difference": _num(m.tolerance),
                "test": None
                if m.test is None
                else {
                    "name": "Mann-Whitney U (two-sided)",
                    "u": _num(m.test.u),
                    "p_value": _num(m.test.p_value),
                    "hodges_lehmann_shift": _num(m.test.shift),
                    "confidence_interval": [_num(m.test.low), _num(m.test.high)],
                    "p_canary_higher": _num(m.test.canary_higher),
                },
            }
            for m in v.metrics
        ],
    }


def render_json(v: PhaseVerdict) -> str:
    return json.dumps(verdict_json(v), indent=2) + "\n"


_ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}


def render_markdown(v: PhaseVerdict) -> str:
    lines = [
        f"### {_ICON[v.verdict]} Canary `{v.rollout.name}`, phase `{v.phase.name}`: **{v.verdict}**",
        "",
        f"{v.reason}. Window {_window(v)}; one sample per {v.rollout.interval} per side; "
        f"Mann-Whitney U at {v.rollout.confidence * 100:g}% confidence.",
        "",
    ]
    lines += [f"> {note}" for note in v.notes]
    if v.notes:
        lines.append("")
    lines += [
        "| metric | verdict | canary | baseline | difference | allowed | p | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in v.metrics:
        metric = m.metric
        name = f"{metric.name}{' (critical)' if metric.critical else ''}"
        diff = "" if m.difference is None else format_difference(metric, m.difference)
        allowed = "" if m.tolerance is None else format_difference(metric, m.tolerance)
        p = "" if m.test is None else f"{m.test.p_value:.2g}"
        lines.append(
            f"| {name} | {_ICON[m.verdict]} {m.verdict} | {format_value(metric, m.canary.value)} "
            f"({m.canary.events:,.0f}) | {format_value(metric, m.baseline.value)} ({m.baseline.events:,.0f}) | "
            f"{diff} | {allowed} | {p} | {m.reason.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
