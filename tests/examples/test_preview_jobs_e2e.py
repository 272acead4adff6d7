"""preview_jobs end to end: every scenario of its scenarios.yaml fires exactly its alerts in a real Alertmanager,
and a healthy run fires nothing and nothing stays pending (time compressed 120x: see tests/examples/harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import running

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def settled(app: Any) -> bool:
    service = app.state.service
    return service.queued == 0 and service.rendering == 0


async def test_every_scenario_fires_its_alerts_and_healthy_is_quiet(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str
) -> None:
    async with running("preview_jobs", tmp_path, rate_per_second=20, settled=settled, speed=240) as stack:
        await stack.quiet(8)  # half an hour of virtual time
        assert await stack.view_is_filled()  # issue 17: every number of jobpulse demo's view has data
        for name in stack.scenarios:
            if name != "healthy":
                await stack.play(name)
    print({p.scenario: (p.reached, p.seconds) for p in stack.played})
