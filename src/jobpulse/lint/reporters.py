"""Output formats for lint problems: text, JSON, GitHub workflow annotations and SARIF 2.1.0.

Every format carries the same fields: file, line, column, end line/column, severity, check id, message, hint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jobpulse._version import __version__
from jobpulse.lint.problem import Problem, Severity
from jobpulse.lint.registry import Check
from jobpulse.spec.errors import one_line

DOCS_PATH = "docs/checks/{name}.md"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(problems: list[Problem], files: int) -> str:
    if not problems:
        return f"no problems in {_plural(files, 'file')}"
    counts = [
        _plural(sum(1 for p in problems if p.severity is s), s.value)
        for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        if any(p.severity is s for p in problems)
    ]
    return f"{_plural(len(problems), 'problem')} ({', '.join(counts)}) in {_plural(files, 'file')}"


def text(problems: list[Problem], checks: dict[str, Check], files: int) -> str:
    """``path:line:col: severity check-id message`` with the fix hint on the next line."""
    lines = []
    for p in problems:
        lines.append(f"{p.file}:{p.line}:{p.column}: {p.severity.value} {p.check} {one_line(p.message)}")
        if p.hint:
            lines.append(f"    fix: {one_line(p.hint)}")
    lines.append(summary(problems, files))
    return "\n".join(lines) + "\n"


def _record(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.span.line,
        "column": p.span.column,
        "end_line": p.span.end_line,
        "end_column": p.span.end_column,
        "severity": p.severity.value,
        "check": p.check,
        "message": p.message,
        "hint": p.hint,
        "path": p.path,
    }


def as_json(problems: list[Problem], checks: dict[str, Check], files: int) -> str:
    counts = {s.value: sum(1 for p in problems if p.severity is s) for s in Severity}
    return json.dumps({"problems": [_record(p) for p in problems], "counts": counts, "files": files}, indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def github(problems: list[Problem], checks: dict[str, Check], files: int) -> str:
    """GitHub Actions workflow commands: ``::error file=...,line=...::message``."""
    lines = []
    for p in problems:
        props = ",".join(
            f"{k}={_escape_property(str(v))}"
            for k, v in (
                ("file", p.file),
                ("line", p.span.line),
                ("col", p.span.column),
                ("endLine", p.span.end_line),
                ("endColumn", p.span.end_column),
                ("title", p.check),
            )
        )
        body = p.message + (f"\nfix: {p.hint}" if p.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[p.severity]} {props}::{_escape_data(body)}")
    return "\n".join(lines) + ("\n" if lines else "")


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def sarif(problems: list[Problem], checks: dict[str, Check], files: int) -> str:
    rules = [
        {
            "id": c.id,
            "name": c.doc_name,
            "shortDescription": {"text": c.summary},
            "help": {"text": f"{c.summary} See {DOCS_PATH.format(name=c.doc_name)}."},
            "defaultConfiguration": {"level": _SARIF_LEVEL[c.severity]},
            "properties": {"needsCatalogue": c.needs_catalogue, "online": c.online},
        }
        for c in checks.values()
    ]
    index = {c.id: i for i, c in enumerate(checks.values())}
    results = []
    for p in problems:
        result: dict[str, Any] = {
            "ruleId": p.check,
            "level": _SARIF_LEVEL[p.severity],
            "message": {"text": p.message + (f" Fix: {p.hint}" if p.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": p.file.replace("\\", "/")},
                        "region": {
                            "startLine": p.span.line,
                            "startColumn": p.span.column,
                            "endLine": p.span.end_line,
                            "endColumn": p.span.end_column,
                        },
                    },
                    **({"logicalLocations": [{"fullyQualifiedName": p.path}]} if p.path else {}),
                }
            ],
            "properties": {"severity": p.severity.value, "hint": p.hint, "message": p.message},
        }
        if p.check in index:
            result["ruleIndex"] = index[p.check]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "jobpulse",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


Reporter = Callable[[list[Problem], dict[str, Check], int], str]
REPORTERS: dict[str, Reporter] = {"text": text, "json": as_json, "github": github, "sarif": sarif}
