"""Suppressions: ``# jobpulse: disable=<check-id> -- <reason>`` comments and a spec's ``lint.allow`` list.

A comment after content applies to the YAML node starting on its line (a whole rule for a comment on
``- alert: X``, the query for one after ``expr: |``); a comment on a line of its own applies to the node
on the next line. A suppression must give a reason; one without a reason, naming an unknown check, or
matching no problem is itself reported (check ``lint/suppression``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobpulse.lint.catalogue import Allow
from jobpulse.lint.problem import WARNING, Problem, Span
from jobpulse.lint.source import Tree, comments

SUPPRESSION_CHECK = "lint/suppression"
_DISABLE = re.compile(r"^\s*jobpulse:\s*disable\s*=\s*(?P<ids>[^\s]*?)\s*(?:(?<=\s)--|--\s|$)(?P<reason>.*)$")
_MENTION = re.compile(r"^\s*jobpulse:")


@dataclass
class Suppression:
    checks: tuple[str, ...]
    reason: str
    line: int
    column: int
    first: int  # lines it covers
    last: int
    used: bool = False


def comment_suppressions(text: str, trees: list[Tree]) -> tuple[list[Suppression], list[tuple[int, int, str]]]:
    """Suppressions in ``text``'s comments, and (line, column, message) for malformed ones."""
    lines = text.split("\n")
    starts: dict[int, int] = {}
    for tree in trees:
        for path in tree.nodes:
            extent = tree.extent(path)
            if extent is not None:
                starts[extent[0]] = max(starts.get(extent[0], extent[0]), extent[1])
    found: list[Suppression] = []
    malformed: list[tuple[int, int, str]] = []
    for line, column, body in comments(text, trees):
        if not _MENTION.match(body):
            continue
        match = _DISABLE.match(body)
        if match is None or not match.group("ids"):
            malformed.append((line, column, "expected `# jobpulse: disable=<check-id> -- <reason>`"))
            continue
        ids = tuple(i for i in match.group("ids").split(",") if i)
        reason = match.group("reason").strip()
        own_line = not lines[line - 1][: column - 1].strip()
        target = line
        if own_line:
            target = next(
                (
                    n
                    for n in range(line + 1, len(lines) + 1)
                    if lines[n - 1].strip() and not _comment_only(lines[n - 1])
                ),
                line,
            )
        found.append(Suppression(ids, reason, line, column, target, starts.get(target, target)))
    return found, malformed


def _comment_only(line: str) -> bool:
    return line.lstrip().startswith("#")


def allow_matches(entry: Allow, problem: Problem) -> bool:
    if entry.check != problem.check:
        return False
    if entry.where is None:
        return True
    where = entry.where
    if where in problem.subjects:
        return True
    return problem.path == where or problem.path.startswith((where + ".", where + "["))


def apply(
    problems: list[Problem],
    suppressions: list[Suppression],
    allow: list[Allow],
    allow_used: set[int],
) -> list[Problem]:
    """The problems that no (reasoned) suppression covers; marks the suppressions used."""
    kept: list[Problem] = []
    for problem in problems:
        suppressed = False
        for s in suppressions:
            if s.reason and problem.check in s.checks and s.first <= problem.line <= s.last:
                s.used = True
                suppressed = True
        for i, entry in enumerate(allow):
            if allow_matches(entry, problem):
                allow_used.add(i)
                suppressed = True
        if not suppressed:
            kept.append(problem)
    return kept


def comment_problems(
    file: str,
    suppressions: list[Suppression],
    malformed: list[tuple[int, int, str]],
    known: set[str],
    ran: set[str],
) -> list[Problem]:
    out: list[Problem] = []

    def problem(line: int, column: int, message: str, hint: str) -> None:
        span = Span(line, column, line, column + 1)
        out.append(Problem(SUPPRESSION_CHECK, WARNING, file, span, message, hint))

    for line, column, message in malformed:
        problem(line, column, message, "write the check id, then `--` and why the problem stays")
    for s in suppressions:
        unknown = [c for c in s.checks if c not in known]
        for c in unknown:
            problem(s.line, s.column, f"suppression names unknown check {c!r}", "see `jobpulse lint --list-checks`")
        if not s.reason:
            problem(
                s.line,
                s.column,
                f"suppression of {', '.join(s.checks)} has no reason, so it suppresses nothing",
                "add `-- <why the problem stays>` after the check id",
            )
        elif not s.used and not unknown and all(c in ran for c in s.checks):
            problem(s.line, s.column, f"suppression of {', '.join(s.checks)} matches no problem", "remove it")
    return out
