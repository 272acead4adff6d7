"""Locate the external binaries (Prometheus, promtool, Alertmanager, amtool) jobpulse verifies with."""

from __future__ import annotations

import shutil

__all__ = ["ALIASES", "PACKAGES", "MissingBinaryError", "find_binary", "install_hint", "require_binary"]

#: binary name -> Debian package that ships it.
PACKAGES: dict[str, str] = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "victoria-metrics": "victoria-metrics",
    "vmagent": "victoria-metrics",
    "vmalert": "victoria-metrics",
}

#: Other names the same binary goes by (Debian calls Alertmanager ``prometheus-alertmanager``).
ALIASES: dict[str, tuple[str, ...]] = {
    "alertmanager": ("alertmanager", "prometheus-alertmanager"),
    "prometheus-alertmanager": ("prometheus-alertmanager", "alertmanager"),
}


def _canonical(name: str) -> str:
    return "alertmanager" if name == "prometheus-alertmanager" else name


def install_hint(name: str) -> str:
    """The command that installs ``name`` (e.g. ``sudo apt-get install prometheus``)."""
    package = PACKAGES.get(_canonical(name), name)
    return f"sudo apt-get install {package} (or run scripts/install-system-deps.sh)"


class MissingBinaryError(RuntimeError):
    """A required external binary is not on PATH."""

    def __init__(self, name: str, package: str, hint: str) -> None:
        self.name = name
        self.package = package
        self.hint = hint
        super().__init__(f"{name} not found on PATH: {hint}")


def find_binary(name: str) -> str | None:
    """Absolute path of ``name`` on PATH (trying its aliases), or ``None``."""
    for candidate in ALIASES.get(name, (name,)):
        path = shutil.which(candidate)
        if path is not None:
            return path
    return None


def require_binary(name: str) -> str:
    """Like :func:`find_binary` but raise :class:`MissingBinaryError` naming the package to install."""
    path = find_binary(name)
    if path is None:
        canonical = _canonical(name)
        raise MissingBinaryError(canonical, PACKAGES.get(canonical, canonical), install_hint(name))
    return path
