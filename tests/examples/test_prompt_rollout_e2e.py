"""prompt_rollout end to end (issue 17): every fault scenario of its scenarios.yaml fires exactly its alerts in a
real Alertmanager and nothing else fires; a healthy run fires nothing, nothing stays pending, and it fills jobpulse
demo's view. The app runs with its own Redis (redis-down stops it) and Celery worker; the rules run 60x faster.

retry-storm is played right after the healthy run: PrompterUniqueViolationsSpike compares the last 10 minutes
with the 10 before them, which a reset would leave empty. slow comes last: its prompts still waiting for the
version store when it ends would be observed in the next scenario's window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobpulse.demo.scenarios import load_scenarios
from tests.examples.harness import ROOT, running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ORDER = ("retry-storm", "failure-spike", "redis-down", "slow")


def settled(app: Any) -> bool | str:
    prompter = app.state.prompter
    if prompter.redis is not None and not prompter.redis.running:
        return "Redis is still down"
    state = prompter.queue_state
    if state is None or state.last_error is not None:
        return f"the queue state cannot read Redis ({None if state is None else state.last_error})"
    return True


def test_every_fault_scenario_is_played() -> None:
    scenarios = load_scenarios(ROOT / "examples" / "prompt_rollout")
    faults = [s.name for s in scenarios.values() if s.rollout is None]
    assert sorted((*ORDER, "healthy")) == sorted(faults)


async def test_every_scenario_fires_its_alerts_and_healthy_is_quiet(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, redis_bin: str
) -> None:
    app_kwargs = {
        "workdir": tmp_path / "prompter",
        # 60 probes a second (fewer on a busy machine): a healthy 1-5 % failure rate stays far from the 10 % alert
        # in the 5-second window of the rules (5 minutes, 60x faster)
        "probe_interval": 0.05,
        "queue_interval": 0.25,
        "seed": 5,
    }
    async with running(
        "prompt_rollout", tmp_path, rate_per_second=10, app_kwargs=app_kwargs, settled=settled, speed=60
    ) as stack:
        await stack.quiet(15)  # 15 virtual minutes: a 10-minute baseline for the unique violations
        assert await stack.view_is_filled()
        for name in ORDER:
            await stack.play(name, timeout=45)
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
