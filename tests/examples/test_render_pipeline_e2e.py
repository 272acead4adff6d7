"""render_pipeline end to end: the web process, two Celery worker processes on a private Redis, and every scenario of
its scenarios.yaml firing exactly its alerts in a real Alertmanager; in a healthy run nothing fires or stays pending.

Time runs 60x faster for the web process and the workers alike (the clock travels in $JOBPULSE_DEMO_CLOCK):
QueueWaitTimeHigh's 60-second wait is one real second of a task in Redis. cost-spike needs the workers' 15 minutes of
cost history (their baseline): the healthy run and error-spike before it give them that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def set_scenario(app: Any, name: str) -> None:
    pipeline = app.state.pipeline
    pipeline.client.set(app.state.scenario_key, name)


def settled(app: Any) -> bool:
    state = app.state.pipeline.queue_state
    return state is not None and all(s.depth == 0 for s in state.snapshots.values())


async def test_every_scenario_fires_its_alerts_and_healthy_is_quiet(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, redis_bin: str
) -> None:
    async with running(
        "render_pipeline",
        tmp_path,
        rate_per_second=8,
        app_kwargs={"workdir": tmp_path / "pipeline", "queue_interval": 15.0},
        set_scenario=set_scenario,
        settled=settled,
        speed=60,
    ) as stack:
        await stack.quiet(8)
        assert await stack.view_is_filled()  # issue 17: every number of jobpulse demo's view has data
        for name in ("error-spike", "cost-spike", "backlog"):  # backlog last: its drained queue spends in a burst
            await stack.play(name)
        assert sorted(stack.scenarios) == sorted(("healthy", "error-spike", "cost-spike", "backlog"))
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
