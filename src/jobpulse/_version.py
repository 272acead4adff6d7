"""jobpulse's version, read from the installed package's metadata (pyproject.toml is the one place it is set).

Importing this module loads nothing else of jobpulse, so the CLI, lint reporters and compile can report the
version without loading the runtime.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("jobpulse")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
