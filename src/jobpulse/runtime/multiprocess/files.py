"""The ``*.db`` files of a multi-process directory: what their names say (kind, gauge mode, owner)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMPACTED = "jobpulse-compacted-"
_COMPACTED_RE = re.compile(r"jobpulse-compacted-(\d+)\.db$")


@dataclass(frozen=True)
class DbFile:
    """One ``*.db`` file: its kind (``counter``, ``gauge_livesum``, ...), owner (a pid or compacted) and path."""

    path: str
    kind: str  # counter | histogram | summary | gauge
    mode: str  # gauge mode, "" for the others
    owner: str  # the part after the kind: a pid, or jobpulse-compacted-<generation>

    @property
    def prefix(self) -> str:
        return f"{self.kind}_{self.mode}" if self.mode else self.kind

    @property
    def generation(self) -> int | None:
        match = _COMPACTED_RE.match(self.owner + ".db")
        return int(match.group(1)) if match else None

    @property
    def pid(self) -> int | None:
        return int(self.owner) if self.owner.isdigit() else None


def parse_name(path: str) -> DbFile | None:
    name = Path(path).name
    if not name.endswith(".db"):
        return None
    parts = name[:-3].split("_", 2)
    if parts[0] == "gauge" and len(parts) == 3:
        return DbFile(path, "gauge", parts[1], parts[2])
    if parts[0] != "gauge" and len(parts) >= 2:
        return DbFile(path, parts[0], "", "_".join(parts[1:]))
    return None


def db_files(directory: Path) -> list[str]:
    return [str(p) for p in directory.glob("*.db")]
