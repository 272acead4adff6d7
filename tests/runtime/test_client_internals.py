"""prometheus_client's internals that jobpulse relies on (the package jobpulse/runtime/_client_internals/).

If this fails after a prometheus_client upgrade, the message names the assumption that broke: adapt
_client_internals/ (and only it) before raising the upper bound in pyproject.toml.
"""

from __future__ import annotations

import ast
from pathlib import Path

import prometheus_client
import pytest

from jobpulse.runtime import _client_internals as internals

SRC = Path(__file__).resolve().parents[2] / "src" / "jobpulse"
PRIVATE_MODULES = ("prometheus_client.values", "prometheus_client.mmap_dict", "prometheus_client.multiprocess")
# prometheus_client's private names that no jobpulse class uses for its own attributes (`_lock`, `_name`,
# `_metrics`, `_samples`, `_labelnames` are too common to tell apart and are not listed)
PRIVATE_ATTRIBUTES = {
    "_value",
    "_upper_bounds",
    "_buckets",
    "_sum",
    "_is_most_recent",
    "_multiprocess_mode",
    "_exemplar",
    "_created",
    "_count",
    "_documentation",
    "_labelvalues",
    "_child_samples",
    "_multi_samples",
    "_use_created",
    "_collector_to_names",
    "_names_to_collectors",
    "_collectors_without_names",
    "_target_info",
    "_target_info_metric",
    "_restricted_metric",
    "_escape",
    "_is_legacy_labelname_rune",
    "_is_valid_legacy_metric_name",
}


def test_every_assumption_holds_on_the_installed_release(tmp_path: Path) -> None:
    problems = internals.check(tmp_path)
    version = getattr(prometheus_client, "__version__", "?")
    assert problems == [], f"prometheus_client {version} broke jobpulse's assumptions:\n" + "\n".join(problems)


def test_the_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed file layout is caught: corrupt our writer and the round trip must report it."""
    original = internals.write_mmap_file

    def shifted(path: Path, entries: dict[str, tuple[float, float]]) -> None:
        original(path, {key: (value + 1, stamp) for key, (value, stamp) in entries.items()})

    monkeypatch.setattr(internals, "write_mmap_file", shifted)
    assert any("mmap layout" in problem for problem in internals.check(tmp_path))


def test_no_other_module_touches_prometheus_client_internals() -> None:
    """Private modules and attributes of prometheus_client are used in the _client_internals package only."""
    offenders: list[str] = []

    def called(node: ast.Call) -> str:
        return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")

    for path in sorted(SRC.rglob("*.py")):
        if "_client_internals" in path.relative_to(SRC).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in PRIVATE_MODULES:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
                names = {alias.name for alias in node.names}
                for private in sorted(names & {"values", "multiprocess", "mmap_dict", "validation"}):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: from prometheus_client import {private}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_client"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        where = f"{path.relative_to(SRC)}:{node.lineno}"
                        offenders.append(f"{where}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: .{node.attr}")
            elif (
                isinstance(node, ast.Call)
                and called(node) in {"getattr", "setattr", "hasattr"}
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in PRIVATE_ATTRIBUTES
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: getattr/setattr(..., {node.args[1].value!r})")
            elif (
                isinstance(node, ast.Call)
                and called(node) == "attrgetter"
                and any(isinstance(a, ast.Constant) and a.value in PRIVATE_ATTRIBUTES for a in node.args)
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: attrgetter of a private attribute")
    assert offenders == [], "prometheus_client internals outside _client_internals/:\n" + "\n".join(offenders)
