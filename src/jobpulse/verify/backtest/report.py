"""``report.json`` (machine-readable) and ``report.md`` (with PNG plots), written atomically as one directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobpulse.render.atomic import absolute
from jobpulse.render.files import ensure_replaceable, write_tree
from jobpulse.verify.backtest.plots import slo_plot, timeline
from jobpulse.verify.backtest.rollout_report import rollout_json, rollout_markdown, rollout_plot
from jobpulse.verify.backtest.run import EPOCH, AlertOutcome, BacktestResult, ScenarioResult
from jobpulse.verify.backtest.scenarios import Scenario, human_duration


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _latency(scenario: Scenario) -> dict[str, float | None]:
    return {"median_seconds": scenario.latency.median, "p95_seconds": scenario.latency.p95}


def alert_json(outcome: AlertOutcome) -> dict[str, Any]:
    prediction = outcome.prediction
    return {
        "alert": outcome.rule.name,
        "ref": outcome.ref,
        "group": outcome.rule.group,
        "labels": outcome.rule.label_dict,
        "for_seconds": outcome.rule.for_,
        "expected": outcome.expected,
        "fired": outcome.fired,
        "series": outcome.series,
        "firings": [{"start_seconds": _round(f.start), "end_seconds": _round(f.end)} for f in outcome.firings],
        "detect_seconds": _round(outcome.detect),
        "resolve_seconds": _round(outcome.resolve),
        "still_firing_at_end": outcome.still_firing,
        "false_firings": outcome.false_firings,
        "workbook": None
        if prediction is None
        else {
            "detect_seconds": None if prediction.minutes is None else prediction.minutes * 60,
            "burn_rate": round(prediction.burn, 6),
            "note": prediction.note,
        },
        "ok": not outcome.problems,
        "problems": outcome.problems,
    }


def scenario_json(result: ScenarioResult) -> dict[str, Any]:
    s = result.scenario
    return {
        "name": s.name,
        "description": s.description,
        "builtin": s.builtin,
        "duration_seconds": s.duration,
        "job": s.job,
        "attributes": s.attributes,
        "rate_per_minute": s.rate,
        "failure_ratio": s.failure_ratio,
        "latency": _latency(s),
        "faults": [
            {
                "name": f.name,
                "start_seconds": f.start,
                "end_seconds": f.end,
                "rate_per_minute": f.rate,
                "failure_ratio": f.failure_ratio,
                "latency": None
                if f.latency is None
                else {"median_seconds": f.latency.median, "p95_seconds": f.latency.p95},
                "stall": f.stall,
                "down": f.down,
            }
            for f in s.faults
        ],
        "expect": {
            "fire": [r.text for r in s.fire],
            "silent": [r.text for r in s.silent],
            "ignore": [r.text for r in s.ignore],
        },
        "jobs": result.jobs,
        "failed_jobs": result.failed,
        "scrapes": result.scrapes,
        "samples": result.samples,
        "ok": result.ok,
        "problems": result.problems,
        "alerts": [alert_json(a) for a in result.alerts],
    }


def report_json(result: BacktestResult, spec_label: str) -> dict[str, Any]:
    spec = result.plan.spec
    return {
        "spec": spec_label,
        "service": spec.service.name,
        "ok": result.ok,
        "start": datetime.fromtimestamp(EPOCH, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resolution_seconds": result.resolution,
        "evaluation_interval": spec.service.evaluation_interval,
        "seed": result.plan.seed,
        "scenarios": [scenario_json(s) for s in result.scenarios],
        "rollouts": [rollout_json(r) for r in result.rollouts],
    }


def _dur(value: float | None) -> str:
    return "—" if value is None else human_duration(round(value))


def _fired(outcome: AlertOutcome) -> str:
    if not outcome.firings:
        return "no"
    return "yes" if len(outcome.firings) == 1 else f"yes ({len(outcome.firings)}x)"


def _workbook(outcome: AlertOutcome) -> str:
    p = outcome.prediction
    if p is None:
        return ""
    if p.minutes is None:
        return "should not fire"
    text = human_duration(p.minutes * 60)
    return f"{text} (approx.)" if p.note else text


def _verdict(outcome: AlertOutcome) -> str:
    if outcome.problems:
        return "**FAIL**: " + "; ".join(outcome.problems)
    if outcome.expected == "fire":
        return "ok (expected, fired)"
    if outcome.expected == "silent":
        return "ok (expected silent)"
    if outcome.expected == "ignored":
        return "not judged (`backtest.ignore`)"
    return "ok"


def _scenario_md(result: ScenarioResult, images: list[tuple[str, str]]) -> list[str]:
    s = result.scenario
    lines = [f"## {s.name}", ""]
    if s.description:
        lines += [s.description, ""]
    attrs = ", ".join(f"{k}={v}" for k, v in s.attributes.items())
    lines.append(
        f"- {human_duration(s.duration)} of job `{s.job}` ({attrs}): {s.rate:g} jobs/min, "
        f"{s.failure_ratio * 100:g}% failing, latency {s.latency.describe()}"
        + (" (built-in scenario)" if s.builtin else "")
    )
    for fault in s.faults:
        lines.append(
            f"- fault *{fault.name}* from {human_duration(fault.start)} to {human_duration(fault.end)}: "
            + fault.describe()
        )
    if not s.faults:
        lines.append("- no fault: every firing is a false alarm")
    lines.append(
        f"- {result.jobs:,} jobs ({result.failed:,} failed), {result.scrapes:,} scrapes, {result.samples:,} samples"
    )
    lines += [
        "",
        "| alert | expected | fired | detected after | resolved after | false firings | workbook | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in result.alerts:
        resolve = "still firing at the end" if a.still_firing else _dur(a.resolve)
        lines.append(
            f"| `{a.ref}` | {a.expected or ''} | {_fired(a)} | {_dur(a.detect)} | {resolve} | {a.false_firings} "
            f"| {_workbook(a)} | {_verdict(a)} |"
        )
    notes = sorted({a.prediction.note for a in result.alerts if a.prediction is not None and a.prediction.note})
    if notes:
        lines += ["", *[f"Workbook note: {n}." for n in notes]]
    lines.append("")
    for title, path in images:
        lines += [f"![{title}]({path})", ""]
    return lines


def report_markdown(result: BacktestResult, spec_label: str, images: dict[str, list[tuple[str, str]]]) -> str:
    spec = result.plan.spec
    verdict = (
        "**passed**: every expected alert fired during its fault, no alert fired on healthy traffic"
        if result.ok
        else "**FAILED**: see the verdict column below"
    )
    lines = [
        f"# Backtest: {spec.service.name}",
        "",
        f"Generated by `jobpulse backtest {spec_label}`. Do not edit: regenerate it (for the examples, "
        "`make backtest`). How it works and how to read it: docs/backtest.md.",
        "",
        f"Result: {verdict}.",
        "",
        f"Each scenario drives the spec's real job tracker with a simulated clock; the registry is collected every "
        f"{human_duration(result.resolution)}, the samples are imported with `promtool tsdb create-blocks-from "
        f"openmetrics`, recording rules are backfilled with `promtool tsdb create-blocks-from rules` and every alert "
        f"is evaluated by Prometheus every {spec.service.evaluation_interval} (with its `for`). Times are from the "
        "fault's start (detected) and end (resolved). *workbook*: the detection time the SRE workbook's formula "
        "predicts for an SLO tier (long window filled at the burn rate, then `for`).",
        "",
        "| scenario | faults | expected to fire | fired | result |",
        "|---|---|---|---|---|",
    ]
    for s in result.scenarios:
        faults = "; ".join(f.describe() for f in s.scenario.faults) or "none (healthy)"
        expected = ", ".join(f"`{r.text}`" for r in s.scenario.fire) or "—"
        fired = ", ".join(f"`{a.ref}`" for a in s.alerts if a.fired) or "nothing"
        status = "ok" if s.ok else "**FAIL**"
        lines.append(f"| [{s.scenario.name}](#{s.scenario.name}) | {faults} | {expected} | {fired} | {status} |")
    lines.append("")
    for s in result.scenarios:
        lines += _scenario_md(s, images.get(s.scenario.name, []))
    plots = {
        f"{r.rollout.name}/{r.scenario.name}": f"rollout-{r.rollout.name}/{r.scenario.name}.png"
        for r in result.rollouts
    }
    lines += rollout_markdown(result.rollouts, plots)
    return "\n".join(lines).rstrip() + "\n"


def render_report(result: BacktestResult, spec_label: str) -> dict[str, bytes]:
    """Every file of the report directory: relative path → content."""
    files: dict[str, bytes] = {}
    images: dict[str, list[tuple[str, str]]] = {}
    for s in result.scenarios:
        name = s.scenario.name
        files[f"{name}/timeline.png"] = timeline(s)
        images[name] = [(f"{name}: alerts", f"{name}/timeline.png")]
        for series in s.slo_series:
            path = f"{name}/slo-{series.slo.name}.png"
            files[path] = slo_plot(s, series)
            images[name].append((f"{name}: SLO {series.slo.name}", path))
    for r in result.rollouts:
        files[f"rollout-{r.rollout.name}/{r.scenario.name}.png"] = rollout_plot(r)
    files["report.json"] = (json.dumps(report_json(result, spec_label), indent=2, sort_keys=False) + "\n").encode()
    files["report.md"] = report_markdown(result, spec_label, images).encode()
    return files


REPORT_MARKER = ".jobpulse-backtest"


def write_report(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write the report under ``out_dir``, replacing it whole and atomically (a directory jobpulse did not
    write — no marker, no earlier ``report.json`` — is refused, never deleted)."""
    out = absolute(out_dir)
    ensure_replaceable(out, REPORT_MARKER, also=("report.json",))
    return write_tree(files, out, REPORT_MARKER, "written by jobpulse backtest; replaced whole on each run\n")
