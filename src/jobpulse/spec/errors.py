"""Spec errors that name file:line:column and what was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Escape control characters so that user input can never split or forge an error line."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text
    )


@dataclass(frozen=True)
class Location:
    """A 1-based position in a spec file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{one_line(self.path)}: " if self.path else ""
        return f"{self.location}: error: {where}{one_line(self.message)}"


class SpecError(ValueError):
    """One or more problems in a spec; ``str()`` gives one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class YamlSourceError(ValueError):
    """The text cannot be read as YAML (or as the data it must be); carries a 1-based position."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"{file}:{line}:{column}: {message}")
