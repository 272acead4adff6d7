"""How ``make test`` spreads the suite over pytest-xdist workers (used by tests/conftest.py).

Two rules:

* **one unit per shared fixture**: the tests of a module with a module-scoped fixture (a Prometheus, a backtest,
  a fresh venv) go to one worker together, so the fixture is set up once rather than once per worker that gets one
  of its tests. Every other test is a unit of its own.
* **longest first**: units start in the order of their measured duration (``tests/durations.json``), so the
  two-minute end-to-end tests do not start in the last minute and leave the other workers idle. xdist makes every
  worker hold the next test while it runs one; a worker busy with a long unit is given the shortest unit waiting
  as that next test, so the long units stay free for the workers about to need one.

``make durations`` refreshes the durations file from a full run.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
DURATIONS_FILE = TESTS / "durations.json"
#: environment variable: record each test's duration into this file (``make durations``)
RECORD_ENV = "JOBPULSE_RECORD_DURATIONS"
#: assumed duration of a test the durations file does not list (it lists those of a second or more)
UNKNOWN_SECONDS = 0.1
#: a worker whose pending tests add up to this much is busy: its next test should be a short one
BUSY_SECONDS = 5.0
#: tests shorter than this are left out of the durations file
RECORD_MIN_SECONDS = 1.0


def modules_with_module_fixtures(tests: Path = TESTS) -> frozenset[str]:
    """The test modules that define a module-scoped fixture, as node ids spell them (``tests/x/test_y.py``)."""
    root = tests.parent
    return frozenset(
        path.relative_to(root).as_posix()
        for path in tests.rglob("test_*.py")
        if 'scope="module"' in path.read_text(encoding="utf-8")
    )


def load_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """Measured seconds per node id; an absent or unreadable file means nothing is known (file order)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def expected_seconds(nodeids: Mapping[str, bool] | list[str], durations: Mapping[str, float]) -> float:
    return sum(durations.get(nodeid, UNKNOWN_SECONDS) for nodeid in nodeids)


def order_longest_first(queue: OrderedDict[str, dict[str, bool]], durations: Mapping[str, float]) -> None:
    """Reorder the xdist work queue (scope -> {nodeid: done}) by expected duration, longest first; ties keep
    their collection order."""
    ordered = sorted(queue.items(), key=lambda item: -expected_seconds(item[1], durations))
    queue.clear()
    queue.update(ordered)


def next_unit(queue: OrderedDict[str, dict[str, bool]], pending: list[str], durations: Mapping[str, float]) -> str:
    """The scope to give a worker whose not yet finished tests are ``pending``: the longest unit waiting, or the
    shortest when the worker is busy with a long one (what it gets now only runs after that)."""
    busy = expected_seconds(pending, durations) >= BUSY_SECONDS
    return next(reversed(queue)) if busy else next(iter(queue))


def record_durations(path: Path, measured: Mapping[str, float]) -> None:
    """Merge ``measured`` (seconds per node id, this run) into the durations file: tests of a second or more, one
    decimal, sorted, so the file's diff shows what got slower. Tests this run did not measure keep their entry."""
    known = load_durations(path)
    known.update(measured)
    kept = {k: round(v, 1) for k, v in sorted(known.items()) if v >= RECORD_MIN_SECONDS}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def make_scheduler(
    config: Any,
    log: Any,
    *,
    durations: Mapping[str, float] | None = None,
    shared: frozenset[str] | None = None,
) -> Any:
    """The xdist scheduler for ``--dist loadgroup``: shared-fixture units, longest first (``durations`` and
    ``shared`` default to the durations file and the suite's modules with module-scoped fixtures)."""
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    chosen = modules_with_module_fixtures() if shared is None else shared
    known = load_durations() if durations is None else durations

    class LongestFirstScheduling(LoadGroupScheduling):  # type: ignore[misc]
        """xdist's own loadgroup learns the groups from a suffix it appends to node ids on the workers, which
        pytest 9.2's structured node ids no longer take (pytest-dev/pytest-xdist#1386): scopes are decided here."""

        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            scope = str(super()._split_scope(nodeid))
            if scope != nodeid:
                return scope  # an xdist_group mark, where xdist could still read it
            module = nodeid.split("::", 1)[0]
            return module if module in chosen else nodeid

        def _assign_work_unit(self, node: Any) -> None:
            if not self._ordered:
                order_longest_first(self.workqueue, known)
                self._ordered = True
            pending = [
                nodeid
                for unit in self.assigned_work.get(node, {}).values()
                for nodeid, done in unit.items()
                if not done
            ]
            self.workqueue.move_to_end(next_unit(self.workqueue, pending, known), last=False)
            super()._assign_work_unit(node)

    return LongestFirstScheduling(config, log)
