"""What the demo shows: a rich table (TTY), plain status lines (otherwise), and the final summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from jobpulse.demo.stats import AlertState, Snapshot, Totals

__all__ = ["DemoSummary", "ViewInfo", "render", "status_line", "summary_lines"]


@dataclass(frozen=True)
class ViewInfo:
    example: str
    scenario: str
    app_url: str
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    duration: float | None = None
    #: the metric each number is computed from (field -> metric name)
    metrics: dict[str, str] = field(default_factory=dict)
    store_name: str = "Prometheus"  # or VictoriaMetrics (jobpulse demo --tsdb victoria-metrics)


def _num(value: float | None, fmt: str = "{:.1f}", available: bool = True) -> str:
    """The number; ``…`` while there is no data yet, ``n/a`` when the spec has no metric for it."""
    if value is None:
        return "…" if available else "n/a"
    return fmt.format(value)


ROWS = (
    ("Jobs / min", "jobs_per_min", "{:.1f}"),
    ("Failure %", "failure_pct", "{:.1f} %"),
    ("p95 (ms)", "p95_ms", "{:.0f}"),
    ("Queue depth", "queue_depth", "{:.0f}"),
)
#: each row's metric is shown next to its source (ViewInfo.metrics): a reader knows what the number is


def _alerts(alerts: list[AlertState] | None) -> tuple[str, str]:
    if alerts is None:
        return "n/a (no Prometheus)", "n/a"
    firing = sorted({a.name for a in alerts if a.state == "firing"})
    pending = sorted({a.name for a in alerts if a.state == "pending"})
    return ", ".join(firing) or "none", ", ".join(pending) or "none"


def _elapsed(elapsed: float, duration: float | None) -> str:
    return f"{elapsed:.0f}s" + (f" / {duration:.0f}s" if duration else "")


def render(snapshot: Snapshot, info: ViewInfo, elapsed: float) -> RenderableType:
    table = Table(
        title=f"jobpulse demo · {info.example} · scenario {info.scenario} · {_elapsed(elapsed, info.duration)}",
        title_justify="left",
        min_width=72,
    )
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("from")
    for label, name, fmt in ROWS:
        source = " · ".join(x for x in (snapshot.sources.get(name, ""), info.metrics.get(name, "")) if x)
        available = name in info.metrics
        table.add_row(label, _num(getattr(snapshot, name), fmt, available), source or "no metric in the spec")
    firing, pending = _alerts(snapshot.alerts)
    table.add_row("Alerts firing", Text(firing, style="bold red" if firing not in ("none", "n/a") else ""), "")
    table.add_row("Alerts pending", Text(pending, style="yellow" if pending not in ("none", "n/a") else ""), "")
    lines = [f"app          {info.app_url}  (metrics: {info.app_url}/metrics)"]
    if info.prometheus_url:
        lines.append(f"{info.store_name:<12} {info.prometheus_url}")
    if info.alertmanager_url:
        lines.append(f"Alertmanager {info.alertmanager_url}")
    footer = Text("\n".join(lines) + "\nCtrl-C to stop", style="dim")
    parts: list[RenderableType] = [table, footer]
    if snapshot.error:
        parts.append(Text(snapshot.error, style="red"))
    return Group(*parts)


def status_line(snapshot: Snapshot, info: ViewInfo, elapsed: float) -> str:
    firing, pending = _alerts(snapshot.alerts)
    has = info.metrics.__contains__
    return (
        f"[{_elapsed(elapsed, info.duration)}] jobs/min={_num(snapshot.jobs_per_min, available=has('jobs_per_min'))}"
        f" failure={_num(snapshot.failure_pct, available=has('failure_pct'))}%"
        f" p95={_num(snapshot.p95_ms, '{:.0f}', has('p95_ms'))}ms"
        f" queue={_num(snapshot.queue_depth, '{:.0f}', has('queue_depth'))} alerts firing={firing} pending={pending}"
        + (f" ({snapshot.error})" if snapshot.error else "")
    )


@dataclass
class DemoSummary:
    example: str
    scenario: str
    elapsed: float = 0.0
    totals: Totals | None = None
    success: str = "ready"
    failure: str = "failed"
    counts: str = "created"  # what the throughput counter counts (JobMetrics.counts)
    depth_kind: str = "queued"
    workload: dict[str, int] | None = None
    build_dir: Path | None = None
    build_files: list[Path] = field(default_factory=list)
    workdir: Path | None = None
    previews: int | None = None
    urls: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: a rollout scenario (jobpulse.demo.rollout): its summary lines, how it ended, every verdict seen while the
    #: phases ran (phase, verdict), and each played phase's verdict at its end (phase, verdict; None: not ended)
    rollout: list[str] = field(default_factory=list)
    rollout_state: str | None = None
    rollout_verdicts: list[tuple[str, str]] = field(default_factory=list)
    rollout_phases: list[tuple[str, str | None]] = field(default_factory=list)


def summary_lines(summary: DemoSummary) -> list[str]:
    lines = [f"Summary: {summary.example}, scenario {summary.scenario}, ran {summary.elapsed:.1f}s"]
    totals = summary.totals
    if totals is not None:
        ok = totals.outcomes.get(summary.success, 0.0)
        bad = totals.outcomes.get(summary.failure, 0.0)
        lines += [
            f"  jobs {summary.counts + ':':9} {totals.enqueued:.0f}"
            + (" (attempts, refreshes included)" if summary.counts == "created" else ""),
            f"  jobs completed: {totals.completed:.0f} ({summary.success} {ok:.0f}, {summary.failure} {bad:.0f})",
            f"  still {summary.depth_kind + ':':10}{totals.depth:.0f}",
        ]
    if summary.workload is not None:
        lines.append("  workload:       " + ", ".join(f"{k} {v}" for k, v in summary.workload.items()))
    if summary.build_dir is not None:
        lines.append(f"  build:          {summary.build_dir} ({len(summary.build_files)} files)")
        for path in summary.build_files:
            lines.append(f"                    {path.relative_to(summary.build_dir)}")
    if summary.workdir is not None:
        extra = f", {summary.previews} previews in static/dev-previews" if summary.previews is not None else ""
        lines.append(f"  logs and data:  {summary.workdir} (app.log{extra})")
    lines += [f"  note: {note}" for note in summary.notes]
    lines += summary.rollout
    if summary.error:
        lines.append(f"  error: {summary.error}")
    return lines
