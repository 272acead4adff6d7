"""What every importer returns: the converted SLOs, what could not be converted, and notes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

NAME = re.compile(r"[^a-z0-9-]+")


@dataclass
class Conversion:
    slos: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be converted
    notes: list[str] = field(default_factory=list)  # converted, but worth a look

    def to_yaml(self) -> str:
        header = ["# Converted by `jobpulse import`. Paste under your spec's top level and fill in every TODO_."]
        header += [f"# NOT CONVERTED: {p}" for p in self.problems]
        header += [f"# note: {n}" for n in self.notes]
        body = yaml.safe_dump({"slos": self.slos}, sort_keys=False, allow_unicode=True, width=110)
        return "\n".join(header) + "\n" + body


class SourceFormatError(ValueError):
    """The input is not a document this importer understands."""


def slo_name(*parts: str) -> str:
    """A spec SLO name (lower case, dashes, at most 40 characters) from free text."""
    return NAME.sub("-", "-".join(parts).lower().replace("_", "-")).strip("-")[:40]
