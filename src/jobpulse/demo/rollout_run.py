"""``jobpulse demo EXAMPLE --scenario good-canary|bad-canary``: the baseline and the canary side by side.

The build, Prometheus and Alertmanager, the workload and the live view are those of every demo
(:mod:`jobpulse.demo.runner`); what differs is that the example's app is served twice — ``create_app(track=
"baseline")`` and ``create_app(track="canary")``, each with its own registry, scraped as two targets labelled with
the rollout's label — that the workload's traffic goes through a :class:`~jobpulse.demo.rollout.TrafficSplit`, and
that a :class:`~jobpulse.demo.rollout.RolloutDriver` plays the phases and judges them from Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from rich.console import Console, Group
from rich.live import Live

from jobpulse.compile import compile_spec
from jobpulse.demo.dogstatsd import DogStatsdListener
from jobpulse.demo.monitoring import Monitoring, start_monitoring
from jobpulse.demo.rollout import (
    DEFAULT_SPEED,
    RATE_PER_SECOND,
    SCRAPE_INTERVAL,
    RolloutDriver,
    TrafficSplit,
    compress_rollout,
    render_rollout,
    rollout_status_line,
    rollout_summary_lines,
)
from jobpulse.demo.runner import DEMO_DIR, DemoError, DemoOptions
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
from jobpulse.demo.view import DemoSummary, ViewInfo, render, status_line
from jobpulse.render.atomic import absolute
from jobpulse.render.files import write_build
from jobpulse.spec.rollout import Rollout
from jobpulse.verify.binaries import find_binary, install_hint

__all__ = ["TRACKS", "run_rollout_demo"]

TRACKS = ("baseline", "canary")
#: seconds the view stays up after the rollout is over, so its end is seen
LINGER_SECONDS = 2.0


def _check(options: DemoOptions) -> None:
    spec, example = options.spec, options.example
    if not spec.rollouts:
        raise DemoError(f"--scenario {options.scenario}: {example.name}'s spec has no `rollouts` section to play")
    if "track" not in inspect.signature(example.create_app).parameters:
        raise DemoError(
            f"--scenario {options.scenario}: {example.name}'s create_app() takes no `track` argument, so it cannot "
            "serve a baseline and a canary"
        )
    if not options.prometheus:
        raise DemoError(f"--scenario {options.scenario}: the rollout is judged from Prometheus; drop --no-prometheus")
    if options.tsdb != "prometheus":
        raise DemoError(f"--scenario {options.scenario}: the rollout is judged from Prometheus; drop --tsdb")
    if find_binary("prometheus") is None:
        hint = install_hint("prometheus")
        raise DemoError(f"--scenario {options.scenario}: the rollout is judged from Prometheus: {hint}")


async def run_rollout_demo(options: DemoOptions, console: Console, *, speed: float | None = None) -> DemoSummary:
    """Play the spec's first rollout with the example's app on both tracks; returns the summary.

    ``speed`` (default ``options.speed``; :data:`~jobpulse.demo.rollout.DEFAULT_SPEED` when that is 1) shortens the
    phases; the rules keep their durations (the verdict shown is ``jobpulse canary``'s, not the rules').
    """
    _check(options)
    example, spec = options.example, options.spec
    speed = speed if speed is not None else options.speed
    speed = speed if speed > 1.0 else DEFAULT_SPEED
    rollout = compress_rollout(spec.rollouts[0], speed)
    summary = DemoSummary(example=example.name, scenario=options.scenario)
    metrics = JobMetrics.from_spec(spec)
    if metrics is not None:
        summary.success, summary.failure = metrics.success, metrics.failure
        summary.counts, summary.depth_kind = metrics.counts, metrics.depth_kind
    stop = asyncio.Event()
    installed = install_signals(stop)
    started = time.monotonic()
    listener: DogStatsdListener | None = None
    try:
        result = compile_spec(spec)
        out = absolute(options.out_dir)  # not resolve(): the build directory may be a symlink it flips
        summary.build_files = write_build(result, out)
        summary.build_dir = out
        say(console, f"build: {len(summary.build_files)} files in {out}")
        workdir = out / DEMO_DIR
        workdir.mkdir(parents=True, exist_ok=True)
        summary.workdir = workdir
        phases = ", ".join(f"{p.name} {p.weight:g}% for {p.min_duration}" for p in rollout.phases)
        every = rollout.interval
        say(console, f"rollout {rollout.name}: time runs {speed:g}x faster, a sample per side every {every}; {phases}")
        extra: dict[str, Any] = {}
        if "dogstatsd" in inspect.signature(example.create_app).parameters:
            listener = DogStatsdListener(workdir / "dogstatsd.txt").start()
            extra["dogstatsd"] = listener.address
        registries = {track: CollectorRegistry() for track in TRACKS}
        apps = {
            track: example.create_app(
                **supported_kwargs(
                    example.create_app,
                    spec_path=example.spec_path,
                    registry=registries[track],
                    scenario=options.scenario,
                    track=track,
                    **extra,
                )
            )
            for track in TRACKS
        }
        rule_file = result.rule_file
        driver = await _serve_and_play(options, console, rollout, apps, metrics, rule_file, workdir, stop, summary)
        if driver is not None:
            summary.rollout = rollout_summary_lines(driver, speed)
            summary.rollout_state = driver.state
            summary.rollout_verdicts = list(driver.seen)
            summary.rollout_phases = [(r.phase.name, r.verdict.verdict if r.verdict else None) for r in driver.records]
    finally:
        if listener is not None:
            listener.stop()
            summary.notes.append(listener.summary())
        remove_signals(installed)
        summary.elapsed = time.monotonic() - started
    return summary


async def _serve_and_play(
    options: DemoOptions,
    console: Console,
    rollout: Rollout,
    apps: dict[str, Any],
    metrics: JobMetrics | None,
    rule_file: str,
    workdir: Path,
    stop: asyncio.Event,
    summary: DemoSummary,
) -> RolloutDriver | None:
    log_handler = attach_log_file(options.example, workdir / "app.log")
    servers = {track: AppServer(app, port=options.port if track == "baseline" else 0) for track, app in apps.items()}
    monitoring = Monitoring()
    workload_task: asyncio.Task[Any] | None = None
    driver_task: asyncio.Task[Any] | None = None
    workload_stop, driver_stop = asyncio.Event(), asyncio.Event()
    split: TrafficSplit | None = None
    driver: RolloutDriver | None = None
    watcher: Watcher | None = None
    try:
        for track, server in servers.items():
            try:
                await server.start()
            except OSError as exc:
                raise DemoError(f"cannot serve the {track} app: {exc.strerror or exc}") from exc
            summary.urls[track] = server.url
            say(console, f"{track + ':':<13} {server.url}  (metrics at {server.url}/metrics)")
        values = {"baseline": rollout.baseline, "canary": rollout.canary}
        monitoring = await asyncio.to_thread(
            start_monitoring,
            rule_file=options.out_dir.resolve() / rule_file,
            job_name=options.spec.service.name,
            target=servers["baseline"].url.removeprefix("http://"),
            targets={s.url.removeprefix("http://"): {rollout.label: values[t]} for t, s in servers.items()},
            workdir=workdir,
            interval=SCRAPE_INTERVAL,
            alertmanager_config=options.out_dir.resolve() / "alertmanager" / "alertmanager.yml",
        )
        for note in monitoring.notes:
            say(console, note, style="yellow")
        summary.notes.extend(monitoring.notes)
        if monitoring.prometheus is None:
            why = "; ".join(monitoring.notes)
            raise DemoError(f"the rollout is judged from Prometheus, which did not start: {why}")
        summary.urls["prometheus"] = monitoring.prometheus.url
        say(console, f"Prometheus:   {monitoring.prometheus.url}  (alerts at /alerts, rules at /rules)")
        if monitoring.alertmanager is not None:
            summary.urls["alertmanager"] = monitoring.alertmanager.url
            say(console, f"Alertmanager: {monitoring.alertmanager.url}")
        warm_up = getattr(options.example.workload_module, "warm_up", None)
        if callable(warm_up):
            # both tracks freshly deployed: each stores and caches what the workload asks for before the rollout
            # (otherwise the canary, with a twentieth of the traffic, would be slower for being cold)
            began = time.monotonic()
            answered = await asyncio.gather(*(warm_up(server.url) for server in servers.values()))
            took = time.monotonic() - began
            say(console, f"warm-up:      {' and '.join(map(str, answered))} requests to the tracks ({took:.1f}s)")
        # the view's numbers: Prometheus (both tracks), else the baseline's own metrics
        paths = tuple(getattr(options.example.app_module, "METRICS_PATHS", ("/metrics",)))
        watcher = Watcher(servers["baseline"].url, paths, metrics, monitoring)
        await watcher.snapshot_local()
        split = TrafficSplit(servers["baseline"].url, servers["canary"].url)
        client = httpx.AsyncClient(transport=split, timeout=30.0, trust_env=False)
        run_workload = options.example.run_workload
        if run_workload is None:
            raise DemoError(f"{options.example.name} has no workload.py: a rollout needs traffic to judge")
        workload_task = asyncio.ensure_future(
            run_workload(
                servers["baseline"].url,
                **supported_kwargs(run_workload, stop=workload_stop, rate_per_second=RATE_PER_SECOND, client=client),
            )
        )
        driver = RolloutDriver(rollout, split, monitoring.prometheus.api)
        driver_task = asyncio.ensure_future(driver.run(driver_stop))
        info = ViewInfo(
            example=options.example.name,
            scenario=options.scenario,
            app_url=servers["baseline"].url,
            prometheus_url=summary.urls.get("prometheus"),
            alertmanager_url=summary.urls.get("alertmanager"),
            duration=options.duration,
            metrics=metrics.sources() if metrics is not None else {},
        )
        summary.error = await _watch(options, console, watcher, info, stop, servers, workload_task, driver)
    finally:
        driver_stop.set()
        await stop_task(driver_task, timeout=5.0)
        workload_stop.set()
        stats = await stop_task(workload_task, timeout=8.0)
        if is_dataclass(stats) and not isinstance(stats, type):
            summary.workload = {k: v for k, v in asdict(stats).items() if isinstance(v, int)}
        if split is not None:
            await split.aclose()
        if watcher is not None:
            await watcher.settle()  # the summary's totals (the baseline's), once the jobs in flight have ended
            summary.totals = watcher.totals
        try:
            await asyncio.to_thread(monitoring.stop)
        finally:
            try:
                for server in reversed(list(servers.values())):
                    await server.stop()
            finally:
                detach_log_file(log_handler)
    return driver


async def _watch(
    options: DemoOptions,
    console: Console,
    watcher: Watcher,
    info: ViewInfo,
    stop: asyncio.Event,
    servers: dict[str, AppServer],
    workload_task: asyncio.Task[Any],
    driver: RolloutDriver,
) -> str | None:
    """Refresh the view until the rollout is over (or the duration ends, or ``stop``); returns an error, if any."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    deadline = None if options.duration is None else begin + options.duration
    over: float | None = None
    live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
    last_status = -options.status_every
    error: str | None = None
    snapshot = await watcher.snapshot()
    with live if live is not None else contextlib.nullcontext():
        while True:
            elapsed = loop.time() - begin
            snapshot = await watcher.snapshot()
            if live is not None:
                live.update(Group(render(snapshot, info, elapsed), render_rollout(driver)), refresh=True)
            elif elapsed - last_status >= options.status_every:
                last_status = elapsed
                say(console, status_line(snapshot, info, elapsed))
                say(console, rollout_status_line(driver))
            for track, server in servers.items():
                if server.task is None or server.task.done():
                    error = f"the {track} app server stopped unexpectedly" + task_error(server.task)
            if workload_task.done():
                error = "the workload stopped unexpectedly" + task_error(workload_task)
            now = loop.time()
            if driver.finished and over is None:
                over = now
            if (
                error
                or stop.is_set()
                or (deadline is not None and now >= deadline)
                or (over is not None and now - over >= LINGER_SECONDS)
            ):
                break
            wait = options.refresh_seconds if deadline is None else min(options.refresh_seconds, deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
    if live is None:
        say(console, status_line(snapshot, info, loop.time() - begin))
        say(console, rollout_status_line(driver))
    return error
