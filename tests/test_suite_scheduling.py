"""The suite's own scheduling (tests/scheduling.py): shared-fixture modules are one xdist unit, longest first."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

from tests.scheduling import (
    DURATIONS_FILE,
    load_durations,
    make_scheduler,
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


class _Config:
    """What xdist's scheduler reads of pytest's config: two workers, loadscope's reordering on."""

    class option:  # pytest config.option
        loadscopereorder = True

    def getvalue(self, name: str) -> object:
        return {"tx": ["2*popen"], "dist": "loadgroup"}[name]


class _Node:
    """A worker as the scheduler sees it: it is sent test indices, and may be shut down."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_xdist_scheduler_sends_the_longest_first_and_a_short_one_to_hold_next() -> None:
    collection = ["t.py::short1", "t.py::long", "m.py::x", "m.py::y", "t.py::mid", "t.py::short2", "t.py::short3"]
    durations = {"t.py::long": 100.0, "m.py::x": 30.0, "m.py::y": 30.0, "t.py::mid": 20.0, "t.py::short1": 1.0}
    scheduler = make_scheduler(_Config(), None, durations=durations, shared=frozenset({"m.py"}))
    a, b = _Node("gw0"), _Node("gw1")
    for node in (a, b):
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()

    def names(node: _Node) -> list[str]:
        return [collection[i] for i in node.sent]

    # the longest unit, then (busy) the shortest; the module with a shared fixture goes whole to one worker
    assert names(a) == ["t.py::long", "t.py::short3"]
    assert names(b) == ["m.py::x", "m.py::y", "t.py::short2"]
    # the long test done, the worker holds only a short one: it gets the longest left
    scheduler.mark_test_complete(a, collection.index("t.py::long"))
    assert names(a)[2:] == ["t.py::mid"]
