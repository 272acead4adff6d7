"""ai_shorts end to end: every scenario of its scenarios.yaml fires exactly its alerts in a real Alertmanager
(service-down by stopping and restarting the app), and a healthy run fires nothing and nothing stays pending.

Time runs 60x faster (see tests/examples/harness.py): HighLatency alerts at a 30 s p99, so a job may be held up
by at most half a real second of scheduling delay before a loaded test machine looks like a slow render farm.
The scenarios are split over two tests, each with its own Prometheus, so that each stays under a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SPEED = 60
FIRST = ("failure-spike", "slow", "stall", "service-down")
SECOND = ("llm-errors", "cache-cold", "db-errors")


def settled(app: Any) -> bool:
    return app.state.service.running < 20  # the hung jobs of the stall have finished


def test_the_two_halves_play_every_scenario() -> None:
    from jobpulse.demo.scenarios import load_scenarios
    from tests.examples.harness import ROOT

    assert sorted((*FIRST, *SECOND, "healthy")) == sorted(load_scenarios(ROOT / "examples" / "ai_shorts"))


@pytest.mark.parametrize("scenarios", [FIRST, SECOND], ids=["spike-slow-stall-down", "llm-cache-db"])
async def test_scenarios_fire_their_alerts_and_healthy_is_quiet(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str, scenarios: tuple[str, ...]
) -> None:
    async with running("ai_shorts", tmp_path, rate_per_second=30, settled=settled, speed=SPEED) as stack:
        if "failure-spike" in scenarios:
            await stack.quiet(8)  # eight virtual minutes
            assert await stack.view_is_filled()  # issue 17: every number of jobpulse demo's view has data
        for name in scenarios:
            await stack.play(name)
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
