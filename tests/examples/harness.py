"""End-to-end runs of an example with time compressed: the app (its clock ``speed`` times real time), its
workload, a real Prometheus evaluating the example's rule file compressed by the same factor, and a real
Alertmanager with the example's routing tree.

A test plays the scenarios of the example's ``scenarios.yaml`` one after another in one Prometheus: each is
switched on, the test waits until every alert of its ``fires`` is in Alertmanager, checks that nothing else is
firing (in Prometheus or Alertmanager), then switches back to healthy, lets the app settle and forgets every
sample (admin API), so the next scenario starts with empty windows as on a fresh server. A healthy run
(``Stack.quiet``) fires nothing, and once its first five virtual minutes have filled the alerts' windows, no alert
stays pending for half its ``for``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from jobpulse.compile import compile_spec
from jobpulse.demo.example import Example, load_example
from jobpulse.demo.monitoring import Monitoring, start_monitoring
from jobpulse.demo.scenarios import Scenario, load_scenarios
from jobpulse.demo.server import AppServer
from jobpulse.demo.stats import FIELDS, JobMetrics, RegistryWindow, prometheus_snapshot, scrape
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from jobpulse.verify.timescale import SpeedClock

ROOT = Path(__file__).resolve().parents[2]
#: virtual seconds per real second: a 10-minute `for` takes 5 s
SPEED = 120.0
#: scrape and rule evaluation interval (real time)
INTERVAL = "500ms"

#: the start of a healthy run (virtual seconds) in which an alert may be pending but not fire: the first scrapes
#: fill a 5-minute window with a handful of events, and one failed call among the first ten is over 10 % (ai_shorts'
#: LLMHighErrorRate went pending on 1 error in 11 calls, a second after the first scrape); its `for` keeps such an
#: alert from firing, in production as here
WARMUP = 5 * 60
#: how long (real seconds) the app may take to settle after a scenario: the platform's stall leaves a backlog of
#: 1,100 jobs its workers drain at the machine's pace (a loaded 7-worker run still had 386 after 30 s)
SETTLE = 120.0
#: after the warm-up, an alert of a healthy run may be pending for less than this share of its `for`: a blip (a
#: window that briefly holds a few calls with one error among them, as a loaded machine slows the app down) is what
#: `for` is there to ignore; a condition that keeps holding on healthy traffic is a threshold too close to it
PENDING_SHARE = 0.5

SetScenario = Callable[[Any, str], Awaitable[None] | None]
#: whether the app is back to normal after a scenario: True, or False or a string that says what it still does
Settled = Callable[[Any], bool | str]


class AppThread:
    """The app served by uvicorn in its own thread and event loop, apart from the workload and the test's polling:
    whatever the test does, the app's own scheduling delays stay small (they count ``speed`` times over)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="example-app", daemon=True)
        self.thread.start()
        self.server = AppServer(app)

    async def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def start(self) -> None:
        await self.call(self.server.start(timeout=90.0))  # the platform starts PostgreSQL and Redis first

    async def stop(self) -> None:
        await self.call(self.server.stop())

    async def restart(self) -> None:
        await self.call(self.server.restart())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return self.server.url


def _alertnames(alerts: list[dict[str, Any]], state: str | None = None) -> set[str]:
    return {
        a["labels"]["alertname"]
        for a in alerts
        if state is None or a.get("state", a.get("status", {}).get("state")) == state
    }


@dataclass
class Played:
    """What one scenario did: when each expected alert reached Alertmanager (real seconds after the switch)."""

    scenario: str
    reached: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Stack:
    example: Example
    app: Any
    server: AppThread
    monitoring: Monitoring
    clock: SpeedClock
    scenarios: dict[str, Scenario]
    set_scenario: SetScenario
    settled: Settled
    played: list[Played] = field(default_factory=list)

    @property
    def prometheus(self) -> Any:
        assert self.monitoring.prometheus is not None
        return self.monitoring.prometheus

    @property
    def alertmanager(self) -> Any:
        assert self.monitoring.alertmanager is not None
        return self.monitoring.alertmanager

    async def _switch(self, name: str) -> None:
        result = self.set_scenario(self.app, name)
        if result is not None:
            await self.server.call(result)  # type: ignore[arg-type]

    async def prometheus_alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = await asyncio.to_thread(self.prometheus.alerts)
        return alerts

    async def alertmanager_alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = await asyncio.to_thread(self.alertmanager.alerts)
        return alerts

    async def wait_scraped(self, timeout: float = 30.0) -> None:
        """Until Prometheus has scraped every metrics path of the app at least once."""
        deadline = time.monotonic() + timeout
        while True:
            targets = await asyncio.to_thread(self.prometheus.targets)
            if targets and all(t["health"] == "up" for t in targets):
                return
            assert time.monotonic() < deadline, f"targets never up: {targets}"
            await asyncio.sleep(0.2)

    async def view_is_filled(self, timeout: float = 30.0) -> dict[str, float]:
        """``jobpulse demo``'s numbers, from Prometheus and from the app's own metrics: each the spec has a metric for
        is filled."""
        metrics = JobMetrics.from_spec(load_spec(self.example.spec_path))
        assert metrics is not None
        paths = tuple(getattr(self.example.app_module, "METRICS_PATHS", ("/metrics",)))
        window = RegistryWindow(lambda: scrape(self.server.url, paths), metrics)
        await asyncio.to_thread(window.sample)
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.sleep(1.0)
            remote = await asyncio.to_thread(prometheus_snapshot, self.prometheus, metrics)
            local = await asyncio.to_thread(window.snapshot)
            # every number the spec has a metric for (the view says n/a for the others)
            fields = [name for name in FIELDS if name in metrics.sources()]
            missing = [f"{name} ({source})" for source, snap in (("prometheus", remote), ("app", local))
                       for name in fields if getattr(snap, name) is None]  # fmt: skip
            if not missing:
                return {name: getattr(remote, name) for name in fields}
            assert time.monotonic() < deadline, f"the view still shows … for {missing} ({remote.error or ''})"

    async def quiet(self, seconds: float, *, warmup: float = WARMUP) -> None:
        """The healthy run: for ``warmup`` virtual seconds and then ``seconds`` (real) more nothing fires and
        Alertmanager holds nothing; after the warm-up no alert is pending for :data:`PENDING_SHARE` of its ``for``."""
        holds = {
            rule["name"]: float(rule.get("duration") or 0.0)  # its `for`, compressed like the rules: real seconds
            for group in await asyncio.to_thread(self.prometheus.rules)
            for rule in group["rules"]
            if rule.get("type") == "alerting"
        }
        end_of_warmup = time.monotonic() + self.clock.real(warmup)
        deadline = end_of_warmup + seconds
        while (now := time.monotonic()) < deadline:
            alerts = await self.prometheus_alerts()
            assert not_quiet(alerts, holds, warming_up=now < end_of_warmup) == [], (
                f"healthy, yet firing or pending for {PENDING_SHARE:.0%} of its for: {await self.state(alerts)}"
            )
            assert await self.alertmanager_alerts() == []
            await asyncio.sleep(0.25)

    async def play(
        self,
        name: str,
        *,
        timeout: float = 40.0,
        grace: float = 1.0,
        during: Callable[[Stack], Awaitable[None]] | None = None,
    ) -> Played:
        """Switch ``name`` on; every alert of its ``fires`` reaches Alertmanager and nothing else fires.

        ``during`` runs once the scenario is on (e.g. the traffic a queue needs to reach its threshold)."""
        scenario = self.scenarios[name]
        expected = set(scenario.fires)
        played = Played(name)
        started = time.monotonic()
        down = scenario.app_down is not None
        if down:
            await self.server.stop()
        else:
            await self._switch(name)
        try:
            if during is not None:
                await during(self)
            deadline = started + timeout
            while True:
                now = time.monotonic()
                in_am = _alertnames(await self.alertmanager_alerts())
                firing = _alertnames(await self.prometheus_alerts(), "firing")
                unexpected = (in_am | firing) - expected
                assert not unexpected, (
                    f"{name}: {sorted(unexpected)} fired too ({sorted(expected)} expected) after"
                    f" {now - started:.1f}s; {await self.state()}"
                )
                for alert in expected & in_am:
                    played.reached.setdefault(alert, round(now - started, 1))
                if expected <= in_am:
                    break
                assert now < deadline, (
                    f"{name}: after {timeout}s only {sorted(in_am)} reached Alertmanager, expected {sorted(expected)};"
                    f" {await self.state()}"
                )
                await asyncio.sleep(0.25)
            # a little longer: an alert that fires just after the expected ones is caught too
            grace_end = time.monotonic() + grace
            while time.monotonic() < grace_end:
                extra = (
                    _alertnames(await self.alertmanager_alerts())
                    | _alertnames(await self.prometheus_alerts(), "firing")
                ) - expected
                assert not extra, f"{name}: {sorted(extra)} fired too; {await self.state()}"
                await asyncio.sleep(0.25)
        finally:
            if down:
                await self.server.restart()
            await self._switch("healthy")
        await self.reset(after=name)
        played.seconds = round(time.monotonic() - started, 1)
        self.played.append(played)
        return played

    async def state(self, alerts: list[dict[str, Any]] | None = None) -> str:
        """What a failure message needs to explain an alert: every alert's state and labels in Prometheus (``alerts``
        when the caller has them already), and the app's own account of itself (``settled``: the resources a
        scenario holds, its queue)."""
        described = "; ".join(_describe(a) for a in (await self.prometheus_alerts() if alerts is None else alerts))
        settled = self.settled(self.app)
        app = "settled" if settled is True else settled or "not settled"
        return f"Prometheus: {described or 'no alerts'}; app: {app}"

    async def reset(self, timeout: float = 30.0, after: str = "the scenario", *, settle: float = SETTLE) -> None:
        """Healthy again: the app settles (within ``settle`` seconds), Prometheus forgets every sample, no alert is
        left anywhere (within ``timeout`` seconds more)."""
        deadline = time.monotonic() + settle
        while (settled := self.settled(self.app)) is not True:
            why = f" ({settled})" if isinstance(settled, str) else ""
            assert time.monotonic() < deadline, f"the app did not settle within {settle:g}s after {after}{why}"
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + timeout
        await asyncio.to_thread(self.prometheus.delete_all_series)
        while True:
            left = await self.prometheus_alerts()
            held = await self.alertmanager_alerts()
            if not left and not held:
                return
            assert time.monotonic() < deadline, f"left after the reset: {await self.state(left)}; Alertmanager: {held}"
            await asyncio.sleep(0.2)


def _name(alert: dict[str, Any]) -> str:
    return str(alert["labels"].get("alertname", ""))


def _describe(alert: dict[str, Any]) -> str:
    """``Name[state] {label=value, ...}``; a pending alert with how long it has been pending (``[pending 2.4s]``)."""
    state = str(alert.get("state"))
    if state == "pending" and "activeAt" in alert:
        state += f" {pending_seconds(alert):.1f}s"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()) if k != "alertname")
    return f"{_name(alert)}[{state}] {{{labels}}}"


def pending_seconds(alert: dict[str, Any], now: float | None = None) -> float:
    """How long (real seconds) an alert of Prometheus' ``/api/v1/alerts`` has been active: its ``activeAt``
    (RFC 3339, nanoseconds) to ``now`` (Unix time; the current time by default)."""
    active = re.sub(r"(\.\d{6})\d+", r"\1", str(alert["activeAt"])).replace("Z", "+00:00")
    return (time.time() if now is None else now) - datetime.fromisoformat(active).timestamp()


def not_quiet(
    alerts: list[dict[str, Any]], holds: dict[str, float], *, warming_up: bool, now: float | None = None
) -> list[dict[str, Any]]:
    """What a healthy run may not have among Prometheus' ``alerts``: a firing alert, and once the windows have filled
    (not ``warming_up``), one pending for :data:`PENDING_SHARE` of its ``for`` (``holds``: alert name to seconds)."""
    return [
        a
        for a in alerts
        if a.get("state") == "firing"
        or (not warming_up and pending_seconds(a, now) >= PENDING_SHARE * holds.get(_name(a), 0.0))
    ]


def _default_switch(app: Any, name: str) -> None:
    app.state.faults.scenario = name


@contextlib.asynccontextmanager
async def running(
    example_name: str,
    tmp_path: Path,
    *,
    app_kwargs: dict[str, Any] | None = None,
    rate_per_second: float = 10.0,
    workload_kwargs: dict[str, Any] | None = None,
    set_scenario: SetScenario = _default_switch,
    settled: Settled = lambda app: True,
    speed: float = SPEED,
) -> AsyncIterator[Stack]:
    """The example served with its workload, watched by Prometheus and Alertmanager, time compressed."""
    example = load_example(ROOT / "examples" / example_name)
    spec = load_spec(example.spec_path)
    build = tmp_path / "build"
    result = compile_spec(spec)
    write_build(result, build)
    clock = SpeedClock(speed)
    app = example.create_app(clock=clock, registry=CollectorRegistry(), **(app_kwargs or {}))
    server = AppThread(app)
    await server.start()
    monitoring = Monitoring()
    stop = asyncio.Event()
    workload: asyncio.Task[Any] | None = None
    try:
        monitoring = await asyncio.to_thread(
            start_monitoring,
            rule_file=build / result.rule_file,
            job_name=spec.service.name,
            target=server.url.removeprefix("http://"),
            workdir=tmp_path / "run",
            interval=INTERVAL,
            metrics_paths=tuple(getattr(example.app_module, "METRICS_PATHS", ("/metrics",))),
            alertmanager_config=build / "alertmanager" / "alertmanager.yml",
            clock=clock,
            admin_api=True,
        )
        assert monitoring.prometheus is not None and monitoring.alertmanager is not None, monitoring.notes
        assert example.run_workload is not None
        workload = asyncio.ensure_future(
            example.run_workload(server.url, stop=stop, rate_per_second=rate_per_second, **(workload_kwargs or {}))
        )
        stack = Stack(example, app, server, monitoring, clock, load_scenarios(example.path), set_scenario, settled)
        await stack.wait_scraped()
        yield stack
        assert not workload.done() or workload.exception() is None, workload.exception()
    finally:
        stop.set()
        if workload is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(workload, 10)
        await asyncio.to_thread(monitoring.stop)
        try:
            await server.stop()
        finally:
            server.close()
