"""``jobpulse demo``: build, serve the example app, drive it, watch it — then stop everything.

Everything runs in one asyncio loop: uvicorn serves the example app, the example's workload drives
it, and the view refreshes once a second. Prometheus and Alertmanager are child processes started
through :mod:`jobpulse.verify.servers`. SIGINT/SIGTERM only set an event; every stop happens in the
``finally`` blocks below (in reverse order of starting), so no child process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live

from jobpulse.compile import compile_spec
from jobpulse.demo.dogstatsd import DogStatsdListener
from jobpulse.demo.example import Example
from jobpulse.demo.monitoring import Monitoring, StatusWebhook, start_monitoring
from jobpulse.demo.scenarios import Scenario
from jobpulse.demo.server import AppServer
from jobpulse.demo.session import (
    Watcher,
    attach_log_file,
    detach_log_file,
    install_signals,
    remove_signals,
    say,
    stop_task,
    supported_kwargs,
    task_error,
)
from jobpulse.demo.stats import JobMetrics
from jobpulse.demo.view import DemoSummary, ViewInfo, render, status_line, summary_lines
from jobpulse.render.atomic import absolute
from jobpulse.render.files import write_build
from jobpulse.spec.model import Spec
from jobpulse.status import StatusApp
from jobpulse.verify.timescale import SpeedClock

__all__ = ["DEMO_DIR", "DemoError", "DemoOptions", "print_summary", "run_demo"]

DEMO_DIR = ".demo"
HEALTHY = "healthy"


class DemoError(RuntimeError):
    """The demo could not start (e.g. the requested port is taken)."""


@dataclass
class DemoOptions:
    example: Example
    spec: Spec
    out_dir: Path
    port: int = 0  # 0: a free port
    scenario: str = "healthy"
    #: the scenario's definition (scenarios.yaml); one with ``app_down`` is played by the demo itself
    fault: Scenario | None = None
    duration: float | None = None  # None: until Ctrl-C / SIGTERM
    prometheus: bool = True
    tsdb: str = "prometheus"  # or "victoria-metrics": VictoriaMetrics + vmagent + vmalert instead of Prometheus
    rate_per_second: float = 5.0
    interval: str | None = None  # scrape and rule evaluation interval (default: 5s, shorter when sped up)
    speed: float = 1.0  # virtual seconds per real second (app clock and rule durations)
    app_down_after: float = 10.0  # real seconds before an ``app_down`` scenario stops the app
    refresh_seconds: float = 1.0
    status_every: float = 5.0  # plain status line cadence when stdout is not a terminal


def scrape_interval(speed: float) -> str:
    """5 s in real time; shorter when time runs faster, so the compressed windows still hold several scrapes."""
    return "5s" if speed < 5 else "1s" if speed < 30 else "500ms"


class _AppDown:
    """An ``app_down`` scenario: the demo stops its own app after a while and serves it again later."""

    def __init__(self) -> None:
        self.down = False
        self.task: asyncio.Task[None] | None = None

    @property
    def planned(self) -> bool:
        """The app is (or may be about to be) stopped on purpose."""
        return self.down or (self.task is not None and not self.task.done())

    async def run(self, server: AppServer, console: Console, *, after: float, down_for: float) -> None:
        await asyncio.sleep(after)
        self.down = True
        say(console, f"scenario: stopping the app for {down_for:.0f}s (its scrape target goes down)", style="yellow")
        await server.stop()
        await asyncio.sleep(down_for)
        await server.restart()
        self.down = False
        say(console, f"scenario: the app is back at {server.url}", style="yellow")


async def run_demo(options: DemoOptions, console: Console) -> DemoSummary:
    """Run the demo until ``options.duration`` ends or a signal arrives; returns the summary."""
    example, spec = options.example, options.spec
    summary = DemoSummary(example=example.name, scenario=options.scenario)
    clock = SpeedClock(options.speed)
    metrics = JobMetrics.from_spec(spec)
    if metrics is not None:
        summary.success, summary.failure = metrics.success, metrics.failure
        summary.counts, summary.depth_kind = metrics.counts, metrics.depth_kind
    stop = asyncio.Event()
    installed = install_signals(stop)
    started = time.monotonic()
    try:
        # 1. the build: rules, dashboards, docs, alert tests
        result = compile_spec(spec)
        out = absolute(options.out_dir)  # not resolve(): the build directory may be a symlink it flips
        summary.build_files = write_build(result, out)
        summary.build_dir = out
        say(console, f"build: {len(summary.build_files)} files in {out}")
        workdir = out / DEMO_DIR
        workdir.mkdir(parents=True, exist_ok=True)
        summary.workdir = workdir
        previews = workdir / "static" / "dev-previews"
        registry = CollectorRegistry()
        # an example with a status page gets its storage and webhook token; Alertmanager gets the token file
        status_token = secrets.token_urlsafe(24)
        token_file = workdir / "status-token"
        token_file.write_text(status_token + "\n")
        token_file.chmod(0o600)
        extra: dict[str, Any] = {}
        listener = None
        if "dogstatsd" in inspect.signature(example.create_app).parameters:
            # what the example sends to DogStatsD lands in a local listener: what Datadog would receive
            listener = DogStatsdListener(workdir / "dogstatsd.txt").start()
            extra["dogstatsd"] = listener.address
            say(console, f"DogStatsD:    udp://{listener.address[0]}:{listener.address[1]}  (lines in {listener.path})")
        try:
            app = example.create_app(
                **supported_kwargs(
                    example.create_app,
                    spec_path=example.spec_path,
                    registry=registry,
                    backend="worker",
                    scenario=HEALTHY if options.fault is not None and options.fault.app_down else options.scenario,
                    clock=clock,
                    preview_dir=previews,
                    status_storage=workdir / "status.db",
                    status_token=status_token,
                    **extra,
                )
            )
            status = token_file if spec.status_page is not None else None
            await _serve_and_watch(
                options, console, app, registry, metrics, result.rule_file, workdir, stop, summary, status, clock
            )
        finally:
            if listener is not None:
                listener.stop()
                summary.notes.append(listener.summary())
        if previews.is_dir():
            summary.previews = sum(1 for _ in previews.iterdir())
    finally:
        remove_signals(installed)
        summary.elapsed = time.monotonic() - started
    return summary


async def _serve_and_watch(
    options: DemoOptions,
    console: Console,
    app: Any,
    registry: CollectorRegistry,
    metrics: JobMetrics | None,
    rule_file: str,
    workdir: Path,
    stop: asyncio.Event,
    summary: DemoSummary,
    status_token_file: Path | None = None,
    clock: SpeedClock | None = None,
) -> None:
    clock = clock or SpeedClock()
    log_handler = attach_log_file(options.example, workdir / "app.log")
    server = AppServer(app, port=options.port)
    monitoring = Monitoring()
    workload_task: asyncio.Task[Any] | None = None
    workload_stop = asyncio.Event()
    watcher: Watcher | None = None
    try:
        # 2. the app
        try:
            await server.start()
        except OSError as exc:
            raise DemoError(f"cannot serve the app on 127.0.0.1:{options.port}: {exc.strerror or exc}") from exc
        summary.urls["app"] = server.url
        say(console, f"app:          {server.url}  (metrics at {server.url}/metrics)")
        webhook: StatusWebhook | None = None
        page = options.spec.status_page
        if page is not None and status_token_file is not None:
            summary.urls["status"] = server.url + page.path
            webhook = StatusWebhook(server.url + page.path + "/webhook/alertmanager", status_token_file)
            say(console, f"status page:  {server.url}{page.path}  (incidents from Alertmanager)")
        # 3. Prometheus + Alertmanager, when installed and wanted
        if not options.prometheus:
            monitoring.notes.append("Prometheus and Alertmanager skipped (--no-prometheus)")
        elif not stop.is_set():
            monitoring = await asyncio.to_thread(
                start_monitoring,
                rule_file=options.out_dir.resolve() / rule_file,
                job_name=options.spec.service.name,
                target=server.url.removeprefix("http://"),
                workdir=workdir,
                interval=options.interval or scrape_interval(clock.speed),
                metrics_paths=tuple(getattr(options.example.app_module, "METRICS_PATHS", ("/metrics",))),
                alertmanager_config=options.out_dir.resolve() / "alertmanager" / "alertmanager.yml",
                status_webhook=webhook,
                clock=clock,
                tsdb=options.tsdb,
            )
        if monitoring.alertmanager is not None:
            summary.urls["alertmanager"] = monitoring.alertmanager.url
            say(console, f"Alertmanager: {monitoring.alertmanager.url}")
        if monitoring.prometheus is not None:
            summary.urls["prometheus"] = monitoring.prometheus.url
            status_app = getattr(getattr(app, "state", None), "status", None)
            if isinstance(status_app, StatusApp) and status_app.ready:
                status_app.service.read_slos_from(monitoring.prometheus.url)  # SLO attainment on the page
            say(console, f"Prometheus:   {monitoring.prometheus.url}  (alerts at /alerts, rules at /rules)")
        if monitoring.victoria is not None and monitoring.vmalert is not None:
            summary.urls["victoria-metrics"] = monitoring.victoria.url
            summary.urls["vmalert"] = monitoring.vmalert.url
            status_app = getattr(getattr(app, "state", None), "status", None)
            if isinstance(status_app, StatusApp) and status_app.ready:
                status_app.service.read_slos_from(monitoring.victoria.url)  # the same query API
            say(console, f"VictoriaMetrics: {monitoring.victoria.url}  (vmalert: {monitoring.vmalert.url})")
        for note in monitoring.notes:
            say(console, note, style="yellow")
        summary.notes.extend(monitoring.notes)
        # 4. the workload, then the view until the end
        paths = tuple(getattr(options.example.app_module, "METRICS_PATHS", ("/metrics",)))
        watcher = Watcher(server.url, paths, metrics, monitoring)
        await watcher.snapshot_local()
        run_workload = options.example.run_workload
        if run_workload is not None:
            workload: Awaitable[Any] = run_workload(
                server.url, stop=workload_stop, rate_per_second=options.rate_per_second
            )
            workload_task = asyncio.ensure_future(workload)
        else:
            summary.notes.append("the example has no workload.py: no traffic was generated")
        info = ViewInfo(
            example=options.example.name,
            scenario=options.scenario,
            app_url=server.url,
            prometheus_url=summary.urls.get("prometheus") or summary.urls.get("victoria-metrics"),
            store_name="VictoriaMetrics" if "victoria-metrics" in summary.urls else "Prometheus",
            alertmanager_url=summary.urls.get("alertmanager"),
            duration=options.duration,
            metrics=metrics.sources() if metrics is not None else {},
        )
        app_down = _AppDown()
        if options.fault is not None and options.fault.app_down:
            app_down.task = asyncio.ensure_future(
                app_down.run(server, console, after=options.app_down_after, down_for=clock.real(options.fault.app_down))
            )
        try:
            summary.error = await _watch(options, console, watcher, info, stop, server, workload_task, app_down)
        finally:
            summary.totals = watcher.totals
            await stop_task(app_down.task, timeout=0.0)
            if app_down.down:
                await server.restart()  # stopped by the scenario: serve again so the lifespan ends cleanly
    finally:
        # reverse order: traffic, Prometheus/Alertmanager, the app (its lifespan stops the workers)
        workload_stop.set()
        stats = await stop_task(workload_task, timeout=8.0)
        if is_dataclass(stats) and not isinstance(stats, type):
            summary.workload = {k: v for k, v in asdict(stats).items() if isinstance(v, int)}
        elif isinstance(stats, BaseException) and summary.error is None:
            summary.error = f"workload failed: {type(stats).__name__}: {stats}"
        if watcher is not None and server.task is not None and not server.task.done():
            await watcher.settle()  # the summary's totals: once the traffic has stopped and the jobs have ended
            summary.totals = watcher.totals
        try:
            await asyncio.to_thread(monitoring.stop)
        finally:
            try:
                await server.stop()
            finally:
                detach_log_file(log_handler)


async def _watch(
    options: DemoOptions,
    console: Console,
    watcher: Watcher,
    info: ViewInfo,
    stop: asyncio.Event,
    server: AppServer,
    workload_task: asyncio.Task[Any] | None,
    app_down: _AppDown | None = None,
) -> str | None:
    """Refresh the view until the duration ends or ``stop`` is set; returns an error, if any."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    deadline = None if options.duration is None else begin + options.duration
    if options.duration is None:
        say(console, "running until Ctrl-C")
    live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
    last_status = -options.status_every
    error: str | None = None
    with live if live is not None else contextlib.nullcontext():
        while True:
            elapsed = loop.time() - begin
            snapshot = await watcher.snapshot()
            if live is not None:
                live.update(render(snapshot, info, elapsed), refresh=True)
            elif elapsed - last_status >= options.status_every:
                last_status = elapsed
                say(console, status_line(snapshot, info, elapsed))
            planned = app_down is not None and (
                app_down.down or (app_down.task is not None and not app_down.task.done())
            )
            if (server.task is None or server.task.done()) and not planned:
                error = "the app server stopped unexpectedly" + task_error(server.task)
            elif workload_task is not None and workload_task.done():
                error = "the workload stopped unexpectedly" + task_error(workload_task)
            now = loop.time()
            if error or stop.is_set() or (deadline is not None and now >= deadline):
                break
            wait = options.refresh_seconds if deadline is None else min(options.refresh_seconds, deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
    if live is None:
        say(console, status_line(snapshot, info, loop.time() - begin))
    return error


def print_summary(console: Console, summary: DemoSummary) -> None:
    for line in summary_lines(summary):
        say(console, line)
