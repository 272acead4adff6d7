"""platform end to end: every scenario of its scenarios.yaml fires exactly its alerts in a real Alertmanager (the seed's
alerts and the SLO burn-rate alerts the same fault burns) and nothing else fires; a healthy run fires nothing
and nothing stays pending, and jobpulse demo's view is filled from the app's metrics (issue 17).

Time runs 60x faster (tests/examples/harness.py), so a heartbeat is 300 virtual seconds old after 5 real ones:
WorkerOffline has no `for`, and a machine too busy to run the app for 5 seconds would fire it. The resource scenarios
take the machine's CPU and memory from everything else on it, so they run 30x faster (10 seconds of room) with a
third of the traffic: cpu-hog keeps to 0.9-1.2 cores, and on a busy machine the app's own event loop gets what is left;
at the full rate its queue fell behind (WorkersQueueLagErrorBudgetBurn fired with HighCpuUsage). The scenarios are
split over five tests that xdist spreads over its workers; those whose faults leave the database alone share the
worker's PostgreSQL and Redis (tests/datastores_fixtures.py), db-down stops the app's own.
"""

from __future__ import annotations

import asyncio
import re
import resource
from pathlib import Path
from typing import Any

import pytest

from jobpulse.demo.scenarios import load_scenarios
from tests.examples.harness import ROOT, Stack, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

#: API requests a second (about 10 jobs): enough events for the ratio alerts and the SLOs, light on a busy machine;
#: the scheduled runs (about one a second) stay a small share of the jobs, so scheduler-failures' failed billing
#: syncs burn the workers' error budget at under 6x, below the page
RATE = 15

#: group -> (scenarios, speed, API requests a second)
GROUPS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "workers": (("failure-spike", "stall"), 60, RATE),
    "api": (("api-errors", "slow"), 60, RATE),
    "scheduler": (("scheduler-lag", "scheduler-failures", "scheduler-down"), 60, RATE),
    "database": (("db-down", "pool-exhaustion", "slow-queries"), 60, RATE),
    "resources": (("memory-pressure", "cpu-hog", "disk-full"), 30, RATE / 3),
}


def settled(app: Any) -> bool | str:
    platform = app.state.platform
    if platform.pressure.applied == "healthy" and platform.queue.qsize() == 0:
        return True
    return f"resources of {platform.pressure.applied} held, {platform.queue.qsize()} jobs queued"


async def backlog(stack: Stack) -> None:
    """The traffic a stalled queue needs to pass 1,000 jobs: the workload would take over a minute to send these;
    enqueued in the app, they cost nothing."""

    async def enqueue() -> None:
        platform = stack.app.state.platform
        for n in range(1100):
            platform.enqueue("ai_generation", {"org": "acme", "author": f"u{n % 7}", "prompt": "p"})

    await stack.server.call(enqueue())


def test_the_groups_play_every_scenario() -> None:
    played = [name for scenarios, _, _ in GROUPS.values() for name in scenarios]
    assert sorted((*played, "healthy")) == sorted(load_scenarios(ROOT / "examples" / "platform"))


@pytest.mark.parametrize("group", list(GROUPS))
async def test_scenarios_fire_their_alerts_and_healthy_is_quiet(
    group: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    prometheus_bin: str,
    alertmanager_bin: str,
    redis_bin: str,
    postgres_bindir: Path,
) -> None:
    scenarios, speed, rate = GROUPS[group]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    app_kwargs: dict[str, Any] = {
        "workers": 2,
        # a run every 2.5-5 virtual minutes: as in a demo, scheduled runs are a small share of the jobs
        "schedule_scale": 15.0,
        "sample_interval": 0.5,
        "memory_limit_bytes": max(2 * rss, 256 << 20),  # healthy at half its limit whatever this process holds
        "disk_quota_bytes": 32 << 20,
        "data_dir": tmp_path / "data",
        "status_storage": tmp_path / "status.db",
    }
    if group != "database":  # db-down shuts down the PostgreSQL the app started itself
        app_kwargs["database_url"] = request.getfixturevalue("postgres_server").dsn
        app_kwargs["redis_url"] = request.getfixturevalue("redis_server").url
    async with running(
        "platform", tmp_path, rate_per_second=rate, app_kwargs=app_kwargs, settled=settled, speed=speed
    ) as stack:
        if group == "workers":
            await stack.quiet(10 * 60 / speed)  # 10 virtual minutes
            assert await stack.view_is_filled()
            await stack.reset(after="the healthy run")
            # what a failure message would say here (tests/examples/harness.py): every alert gone, the app settled
            state = await stack.state()
            assert re.fullmatch(
                r"Prometheus: no alerts; app: (settled|resources of healthy held, \d+ jobs queued)", state
            ), state
        for name in scenarios:
            # the slowest alert (SchedulerLowSuccessRate: a 30-minute window, at least 10 runs, for 15 minutes) takes
            # 30 s at 60x; the rest is room for a busy machine
            await stack.play(name, timeout=60 * 60 / speed, during=backlog if name == "stall" else None)
            await asyncio.sleep(0)
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
