"""The end-to-end harness's own rules (tests/examples/harness.py): what a healthy run may not have."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.examples.harness import _describe, not_quiet, pending_seconds

#: 2026-12-06T12:00:00Z
NOON = 1796558400.0
HOLDS = {"LLMHighErrorRate": 5.0, "HighActiveJobs": 2.5, "ServiceDown": 0.0}


def alert(name: str, state: str, active_at: str = "2026-12-06T12:00:00.123456789Z") -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": "warning"}, "state": state, "activeAt": active_at}


def test_pending_seconds_reads_prometheus_nanosecond_timestamps() -> None:
    assert pending_seconds(alert("A", "pending"), now=NOON + 2.0) == pytest.approx(2.0 - 0.123456, abs=1e-6)
    assert pending_seconds(alert("A", "pending", "2026-12-06T11:59:59Z"), now=NOON) == 1.0


def test_a_firing_alert_is_never_quiet_not_even_while_the_windows_fill() -> None:
    firing = alert("ServiceDown", "firing")
    assert not_quiet([firing], HOLDS, warming_up=True, now=NOON + 1) == [firing]
    assert not_quiet([firing], HOLDS, warming_up=False, now=NOON + 1) == [firing]


def test_pending_is_a_blip_until_half_its_for_and_anything_while_warming_up() -> None:
    blip = alert("LLMHighErrorRate", "pending")  # for: 5 s (compressed)
    assert not_quiet([blip], HOLDS, warming_up=False, now=NOON + 2.0) == []
    assert not_quiet([blip], HOLDS, warming_up=False, now=NOON + 2.7) == [blip]  # 2.58 s of 5: it holds
    assert not_quiet([blip], HOLDS, warming_up=True, now=NOON + 60.0) == []
    shorter = alert("HighActiveJobs", "pending")  # for: 2.5 s
    assert not_quiet([blip, shorter], HOLDS, warming_up=False, now=NOON + 1.5) == [shorter]
    # an alert the rules do not list (or one without a `for`) may not be pending at all
    unknown = alert("Unknown", "pending")
    assert not_quiet([unknown], HOLDS, warming_up=False, now=NOON + 0.2) == [unknown]


def test_a_failure_message_names_each_alert_its_state_labels_and_how_long_it_is_pending() -> None:
    assert _describe(alert("ServiceDown", "firing")) == "ServiceDown[firing] {severity=warning}"
    assert re.fullmatch(
        r"LLMHighErrorRate\[pending \d+\.\ds\] \{severity=warning\}", _describe(alert("LLMHighErrorRate", "pending"))
    )
