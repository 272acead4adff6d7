"""The check registry: ``@check("promql/counter", severity=ERROR)`` on a function in ``jobpulse.lint.checks``.

Every module in :mod:`jobpulse.lint.checks` is imported by :func:`all_checks`, so adding a check is adding
a module (plus its doc page under ``docs/checks/`` and its tests); there is no hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jobpulse.lint.problem import Problem, Severity, Span
from jobpulse.spec.yamlpos import PathKey, dotted

if TYPE_CHECKING:
    from jobpulse.lint.catalogue import Catalogue
    from jobpulse.lint.documents import Document, Query
    from jobpulse.lint.online import PrometheusAPI

CHECK_ID = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")

CheckFunction = Callable[["Context"], None]


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    summary: str
    run: CheckFunction
    needs_catalogue: bool = False
    online: bool = False

    @property
    def doc_name(self) -> str:
        """``promql/counter`` → ``promql_counter`` (the doc page and test file stem)."""
        return self.id.replace("/", "_")


_REGISTRY: dict[str, Check] = {}
_LOADED = False


def check(
    check_id: str, *, severity: Severity, needs_catalogue: bool = False, online: bool = False
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under a stable id."""
    if not CHECK_ID.match(check_id):
        raise ValueError(f"check ids look like group/name (lower case), got {check_id!r}")

    def register(function: CheckFunction) -> CheckFunction:
        if check_id in _REGISTRY and _REGISTRY[check_id].run is not function:
            raise ValueError(f"check {check_id!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else check_id
        _REGISTRY[check_id] = Check(check_id, severity, summary, function, needs_catalogue, online)
        return function

    return register


#: The package whose every module holds checks.
CHECKS_PACKAGE = "jobpulse.lint.checks"


def all_checks() -> dict[str, Check]:
    """Every registered check by id (importing every module of ``jobpulse.lint.checks`` once)."""
    global _LOADED
    if not _LOADED:
        # discovered by name, like plugins: the checks import this registry, never the other way round
        checks = importlib.import_module(CHECKS_PACKAGE)
        for info in pkgutil.iter_modules(checks.__path__):
            importlib.import_module(f"{checks.__name__}.{info.name}")
        _LOADED = True
    return dict(sorted(_REGISTRY.items()))


@dataclass
class Context:
    """What a check sees: one document, the catalogue (when there is a spec) and a live Prometheus (--online)."""

    doc: Document
    catalogue: Catalogue | None
    online: PrometheusAPI | None
    check: Check
    problems: list[Problem] = field(default_factory=list)

    def report(
        self,
        path: PathKey,
        message: str,
        *,
        hint: str = "",
        query: Query | None = None,
        at: str = "",
        nth: int = 0,
        key: bool = False,
        severity: Severity | None = None,
        subjects: tuple[str, ...] = (),
    ) -> None:
        """Record a problem at ``path`` (at the text ``at`` inside the query or scalar there, when given)."""
        tree = self.doc.tree
        span: Span
        if at:
            value = query.expr if query is not None else _scalar(tree.data, path)
            span = tree.token_span(path, value, at, nth) if value is not None else tree.span(path)
        else:
            span = tree.span(path, key=key)
        context = query.subjects if query is not None else ()
        if self.catalogue is not None:  # a series also answers to its metric's name (x_bucket → x)
            metrics = (self.catalogue.metric(s) for s in subjects)
            subjects = (*subjects, *(m[0].name for m in metrics if m is not None and m[0].name not in subjects))
        self.problems.append(
            Problem(
                check=self.check.id,
                severity=severity or self.check.severity,
                file=self.doc.file,
                span=span,
                message=message,
                hint=hint,
                path=dotted(path),
                subjects=(*context, *subjects),
            )
        )


def _scalar(data: object, path: PathKey) -> str | None:
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node if isinstance(node, str) else None
