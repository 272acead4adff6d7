"""A lint problem: which check found it, how bad it is, where it is, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(Enum):
    """How bad a problem is; only ``error`` makes ``jobpulse lint`` exit 1."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


ERROR = Severity.ERROR
WARNING = Severity.WARNING
INFO = Severity.INFO


@dataclass(frozen=True)
class Span:
    """A 1-based range in a file; the end column is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        return Span(line, column, line, column + 1)


@dataclass(frozen=True)
class Problem:
    check: str
    severity: Severity
    file: str
    span: Span
    message: str
    hint: str = ""
    path: str = ""
    #: names the problem is about (alert, metric, dashboard, panel, label): ``lint.allow`` entries match them
    subjects: tuple[str, ...] = field(default=(), compare=False)

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.span.line, self.span.column, self.check, self.message)
