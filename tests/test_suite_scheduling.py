"""The suite's own scheduling (tests/conftest.py): modules with a module-scoped fixture run as one xdist unit."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import _modules_with_module_fixtures

TESTS = Path(__file__).resolve().parent


def test_modules_sharing_an_expensive_fixture_are_found_and_independent_tests_are_not() -> None:
    shared = _modules_with_module_fixtures(TESTS)
    assert "tests/verify/backtest/test_backtest.py" in shared  # the preview backtest, minutes of CPU
    assert "tests/verify/test_tsdb_compare.py" in shared  # Prometheus and VictoriaMetrics side by side
    assert "tests/verify/test_promtool.py" not in shared  # example runs and shards spread over workers
    assert all(path.startswith("tests/") and path.endswith(".py") for path in shared)
