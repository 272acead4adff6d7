"""dashboard/variables: a dashboard query uses a template variable (``$env``) that the dashboard does not define."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jobpulse.lint.documents import GRAFANA, SPEC, Query
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.lint.source import PathKey

#: ``$env``, ``${env}``, ``${env:regex}`` and the deprecated ``[[env]]``
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
#: the datasource variable every jobpulse dashboard defines
BUILT_DATASOURCE = "datasource"


def used_variables(text: str) -> Iterator[tuple[str, str]]:
    """(name, as written) for each variable in ``text``; Grafana's own (``$__rate_interval``) are left out."""
    for match in VARIABLE.finditer(text):
        name = next(group for group in match.groups() if group is not None)
        if not name.startswith("__"):
            yield name, match.group()


def _suggestion(expr: str, written: str) -> str:
    """``label_values(metric, label)`` for a matcher ``metric{label="$var"}``, else ``label_values(label)``."""
    value = re.escape(written)
    selector = re.search(
        r"([a-zA-Z_:][\w:]*)?\s*\{[^{}]*?\b(\w+)\s*(?:=~|!~|!=|=)\s*\"[^\"]*?" + value + r"[^\"]*\"", expr
    )
    if selector is None:
        return "label_values(<metric>, <label>)"
    metric, label = selector.groups()
    return f"label_values({metric}, {label})" if metric else f"label_values({label})"


def _grafana_defined(data: dict[str, Any]) -> set[str]:
    templating = data.get("templating")
    entries = templating.get("list") if isinstance(templating, dict) else None
    return {str(v["name"]) for v in entries or [] if isinstance(v, dict) and v.get("name")}


def _grafana_variable_queries(data: dict[str, Any], base: PathKey) -> Iterator[tuple[PathKey, str]]:
    """A query variable's own query may use another variable (chained drop-downs)."""
    templating = data.get("templating")
    entries = templating.get("list") if isinstance(templating, dict) else None
    for i, variable in enumerate(entries or []):
        if not isinstance(variable, dict) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
            path: PathKey = (*base, "templating", "list", i, "query", "query")
        else:
            path = (*base, "templating", "list", i, "query")
        if isinstance(query, str):
            yield path, query


def _scopes(ctx: Context) -> Iterator[tuple[PathKey, set[str], str]]:
    """(path prefix of a dashboard, the variables it defines, its title) for each dashboard of the document."""
    if ctx.doc.kind == SPEC and ctx.doc.catalogue is not None:
        for i, spec_dashboard in enumerate(ctx.doc.catalogue.wire.dashboards):
            defined = {v.name for v in spec_dashboard.variables} | {BUILT_DATASOURCE}
            yield ("dashboards", i), defined, spec_dashboard.title
    elif ctx.doc.kind == GRAFANA:
        for dashboard in ctx.doc.dashboards:
            yield dashboard.path, _grafana_defined(dashboard.data), dashboard.title


def _hint(kind: str, name: str, suggestion: str) -> str:
    if kind == SPEC:
        return f"add to the dashboard: variables: [{{name: {name}, query: '{suggestion}'}}]"
    return f'add a query variable to templating.list: {{"name": "{name}", "type": "query", "query": "{suggestion}"}}'


@check("dashboard/variables", severity=ERROR)
def dashboard_variables(ctx: Context) -> None:
    """A query uses a template variable the dashboard does not define: Grafana shows an error instead of data."""
    for prefix, defined, title in _scopes(ctx):
        queries = [q for q in ctx.doc.queries if q.kind == "panel" and q.path[: len(prefix)] == prefix]
        targets: list[tuple[PathKey, str, Query | None]] = [(q.path, q.expr, q) for q in queries]
        if ctx.doc.kind == GRAFANA:
            data = next(d.data for d in ctx.doc.dashboards if d.path == prefix)
            targets += [(path, text, None) for path, text in _grafana_variable_queries(data, prefix)]
        for path, text, query in targets:
            seen: dict[str, int] = {}
            for name, written in used_variables(text):
                nth = seen.get(written, 0)
                seen[written] = nth + 1
                if name in defined:
                    continue
                ctx.report(
                    path,
                    f"{written} is not a variable of dashboard {title!r}"
                    + (f" (it defines {', '.join(sorted(defined))})" if defined else " (it defines none)"),
                    query=query,
                    at=written,
                    nth=nth,
                    hint=_hint(ctx.doc.kind, name, _suggestion(text, written)),
                    subjects=(title,),
                )
