"""The suite's own scheduling (tests/scheduling.py): shared-fixture modules are one xdist unit, longest first."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

from tests.scheduling import (
    DURATIONS_FILE,
    load_durations,
    modules_with_module_fixtures,
    next_unit,
    order_longest_first,
    record_durations,
)

TESTS = Path(__file__).resolve().parent


def test_modules_sharing_an_expensive_fixture_are_found_and_independent_tests_are_not() -> None:
    shared = modules_with_module_fixtures(TESTS)
    assert "tests/verify/backtest/test_backtest.py" in shared  # the preview backtest, minutes of CPU
    assert "tests/verify/test_tsdb_compare.py" in shared  # Prometheus and VictoriaMetrics side by side
    assert "tests/verify/test_promtool.py" not in shared  # example runs and shards spread over workers
    assert all(path.startswith("tests/") and path.endswith(".py") for path in shared)


def _queue(**units: list[str]) -> OrderedDict[str, dict[str, bool]]:
    return OrderedDict((scope, dict.fromkeys(ids, False)) for scope, ids in units.items())


def test_units_start_longest_first_and_a_busy_worker_gets_the_shortest_next() -> None:
    durations = {"m.py::a": 30.0, "m.py::b": 30.0, "long": 100.0, "short": 0.5}
    queue = _queue(unknown=["unknown"], short=["short"], module=["m.py::a", "m.py::b"], long=["long"])
    order_longest_first(queue, durations)
    assert list(queue) == ["long", "module", "short", "unknown"]  # 100, 60 (the module's sum), 0.5, unknown 0.1
    assert next_unit(queue, [], durations) == "long"  # an idle worker takes the longest
    assert next_unit(queue, ["short"], durations) == "long"  # a short test pending is not busy
    assert next_unit(queue, ["long"], durations) == "unknown"  # busy for 100 s: its next test is the shortest
    assert next_unit(queue, ["m.py::a", "m.py::b"], durations) == "unknown"


def test_recorded_durations_merge_and_keep_only_the_slow_tests(tmp_path: Path) -> None:
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"old": 12.0, "again": 3.0}))
    record_durations(path, {"again": 5.04, "fast": 0.2, "new": 1.26})
    assert json.loads(path.read_text()) == {"again": 5.0, "new": 1.3, "old": 12.0}
    assert load_durations(tmp_path / "absent.json") == {}
    (tmp_path / "broken.json").write_text("{")
    assert load_durations(tmp_path / "broken.json") == {}


def test_the_committed_durations_name_tests_that_exist() -> None:
    durations = load_durations(DURATIONS_FILE)
    assert len(durations) > 50
    for nodeid in durations:
        module, _, name = nodeid.partition("::")
        path = TESTS.parent / module
        first = name.split("[", 1)[0].split("::")[0]  # the test function, or its class
        assert path.is_file() and re.search(rf"\b{first}\b", path.read_text()), f"{nodeid} is gone: make durations"
