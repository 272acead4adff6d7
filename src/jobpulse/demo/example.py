"""Find an example directory and load its ``app.py`` (and ``workload.py``) by path."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jobpulse
from jobpulse.extras import MissingExtra

__all__ = ["Example", "ExampleError", "find_example", "load_example", "repo_examples_dir"]

SPEC_FILE = "jobpulse.yaml"
APP_FILE = "app.py"
WORKLOAD_FILE = "workload.py"


class ExampleError(LookupError):
    """The example could not be found or loaded; the message says what was tried."""


@dataclass(frozen=True)
class Example:
    name: str
    path: Path
    app_module: ModuleType
    workload_module: ModuleType | None

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def create_app(self) -> Callable[..., Any]:
        factory: Callable[..., Any] = self.app_module.create_app
        return factory

    @property
    def run_workload(self) -> Callable[..., Awaitable[Any]] | None:
        if self.workload_module is None:
            return None
        run: Callable[..., Awaitable[Any]] = self.workload_module.run_workload
        return run


def repo_examples_dir() -> Path:
    """``<repository>/examples`` for an editable install (``src/jobpulse`` → two levels up)."""
    return Path(jobpulse.__file__).resolve().parents[2] / "examples"


def _missing(path: Path) -> list[str]:
    return [name for name in (SPEC_FILE, APP_FILE) if not (path / name).is_file()]


def find_example(example: str | Path, *, cwd: Path | None = None) -> Path:
    """The example directory: ``example`` itself if it is a directory, else ``examples/<example>``
    under the current directory and then under the repository root."""
    given = Path(example)
    if given.is_dir():
        candidates = [given]
    else:
        base = Path.cwd() if cwd is None else cwd
        candidates = [base / "examples" / given, repo_examples_dir() / given]
    problems: list[str] = []
    for candidate in dict.fromkeys(path.resolve() for path in candidates):
        if not candidate.is_dir():
            problems.append(f"{candidate} (no such directory)")
            continue
        missing = _missing(candidate)
        if not missing:
            return candidate
        problems.append(f"{candidate} (missing {', '.join(missing)})")
    raise ExampleError(f"example {str(example)!r} not found; tried: " + "; ".join(problems))


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExampleError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        top = (exc.name or "").split(".")[0]
        if top and not top.startswith("jobpulse"):
            # the example needs a package the demo extra installs (redis, sqlalchemy, celery, ...)
            raise MissingExtra(f"the example in {path.parent}", top, "demo") from exc
        raise ExampleError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ExampleError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def load_example(example: str | Path, *, cwd: Path | None = None) -> Example:
    """Find the example and import its modules (as ``jobpulse_example_<name>_app`` etc.)."""
    path = find_example(example, cwd=cwd)
    slug = re.sub(r"\W", "_", path.name)
    app_module = _load_module(path / APP_FILE, f"jobpulse_example_{slug}_app")
    if not callable(getattr(app_module, "create_app", None)):
        raise ExampleError(f"{path / APP_FILE} does not define create_app()")
    workload_module = None
    if (path / WORKLOAD_FILE).is_file():
        workload_module = _load_module(path / WORKLOAD_FILE, f"jobpulse_example_{slug}_workload")
        if not callable(getattr(workload_module, "run_workload", None)):
            raise ExampleError(f"{path / WORKLOAD_FILE} does not define run_workload()")
    return Example(path.name, path, app_module, workload_module)
