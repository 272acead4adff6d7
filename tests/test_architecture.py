"""The architecture contract (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and can fail.

``make architecture`` runs the contract on the tree; these tests run it on a copy of the package with one
import added against the flow, or one cycle, and expect it to break — so the contract is never one that
cannot fail. A second test finds every import cycle, also through package ``__init__`` modules, which
import-linter's sibling check does not look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "jobpulse"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_contract(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=src,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """``<tmp>/jobpulse``: a copy of the package that PYTHONPATH=<tmp> imports instead of the real one."""
    shutil.copytree(PACKAGE, tmp_path / "jobpulse", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def add_line(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}\n")


def test_the_unchanged_copy_keeps_the_contract(package_copy: Path) -> None:
    result = run_contract(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("runtime/metrics.py", "from jobpulse.verify import servers", "Layers"),
        ("runtime/tracker.py", "from jobpulse.integrations import redis", "Layers"),
        ("runtime/context.py", "import jobpulse.compile.rules", "runtime never loads the build side"),
        ("compile/rules.py", "from jobpulse.runtime import metrics", "Layers"),
        ("spec/model.py", "from jobpulse.lint import problem", "Layers"),
        ("extras.py", "import jobpulse.spec.errors", "Layers"),
    ],
)
def test_an_import_against_the_flow_breaks_it(package_copy: Path, module: str, line: str, contract: str) -> None:
    add_line(package_copy / "jobpulse" / module, line)
    result = run_contract(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert contract in result.stdout
    assert "BROKEN" in result.stdout or "Broken contracts" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("spec/errors.py", "def _late():\n    from jobpulse.spec import load"),  # a deferred import is one too
        ("runtime/labels.py", "from jobpulse.runtime import metrics"),
        ("lint/problem.py", "import jobpulse.lint.runner"),
    ],
)
def test_a_cycle_breaks_it(package_copy: Path, module: str, line: str) -> None:
    add_line(package_copy / "jobpulse" / module, line)
    result = run_contract(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No import cycles" in result.stdout and "No cycles are allowed" in result.stdout


GRAPH_SCRIPT = """
import json, grimp
graph = grimp.build_graph("jobpulse", exclude_type_checking_imports=True, cache_dir=None)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


def import_graph(src: Path) -> dict[str, list[str]]:
    """Module -> the modules it imports (deferred imports too, ``if TYPE_CHECKING:`` ones not), for ``src``."""
    result = subprocess.run(
        [sys.executable, "-c", GRAPH_SCRIPT],
        env={"PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    graph: dict[str, list[str]] = json.loads(result.stdout)
    return graph


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def ignored_imports() -> set[tuple[str, str]]:
    """The imports the contract ignores (compatibility names resolved on first access), as (importer, imported)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pairs = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        for line in contract.get("ignore_imports", []):
            importer, imported = (part.strip() for part in line.split("->"))
            pairs.add((importer, imported))
    return pairs


def checked_graph(src: Path) -> dict[str, list[str]]:
    """:func:`import_graph` without the imports the contract ignores (each of which must still exist)."""
    graph = import_graph(src)
    for importer, imported in ignored_imports():
        assert imported in graph[importer], f"{importer} -> {imported} is ignored but no longer there"
        graph[importer].remove(imported)
    return graph


def test_no_module_imports_itself_back() -> None:
    """No cycle of imports anywhere, package ``__init__`` modules included (deferred imports count)."""
    assert cycles(checked_graph(PACKAGE.parent)) == []


def test_the_cycle_finder_finds_a_cycle(package_copy: Path) -> None:
    add_line(package_copy / "jobpulse" / "spec" / "errors.py", "import jobpulse.spec.load")
    found = cycles(checked_graph(package_copy))
    assert len(found) == 1
    assert {"jobpulse.spec.errors", "jobpulse.spec.load"} <= set(found[0])


LOADED_SCRIPT = """
import sys
import tomllib
import jobpulse.compile, jobpulse.render, jobpulse.lint.reporters, jobpulse.lint.runner, jobpulse.cli.main
print(sorted(m for m in sys.modules if m.startswith(("jobpulse.runtime", "jobpulse.integrations", "starlette"))))
"""


def test_the_build_side_and_the_cli_do_not_load_the_runtime() -> None:
    result = subprocess.run([sys.executable, "-c", LOADED_SCRIPT], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_package_names_its_public_api_and_its_version() -> None:
    from importlib.metadata import version

    import jobpulse

    assert jobpulse.__version__ == version("jobpulse")
    for name in jobpulse.__all__:
        assert getattr(jobpulse, name).__name__ == name
    assert set(jobpulse.__all__) <= set(dir(jobpulse))
    assert jobpulse.runtime.__name__ == "jobpulse.runtime"  # subpackages as attributes, as before
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = jobpulse.Nope  # type: ignore[attr-defined]


def test_no_module_holds_more_than_450_lines() -> None:
    """A module past 450 lines has started to hold several concepts: split it by concept (docs/architecture.md)."""
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert long == {}
