"""ai_shorts end to end: every scenario of its scenarios.yaml fires exactly its alerts in a real Alertmanager
(service-down by stopping and restarting the app), and a healthy run leaves nothing pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def settled(app: Any) -> bool:
    return app.state.service.running < 20  # the hung jobs of the stall have finished


async def test_every_scenario_fires_its_alerts_and_healthy_is_quiet(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str
) -> None:
    async with running("ai_shorts", tmp_path, rate_per_second=30, settled=settled, speed=120) as stack:
        await stack.quiet(8)  # half an hour of virtual time
        for name in stack.scenarios:
            if name != "healthy":
                await stack.play(name)
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
