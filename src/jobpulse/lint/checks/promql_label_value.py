"""promql/label_value: a matcher asks for a label value outside the label's allowed set."""

from __future__ import annotations

import re

from jobpulse.lint.helpers import parsed_queries, selector_name
from jobpulse.lint.problem import ERROR
from jobpulse.lint.promql_ast import is_variable, matchers
from jobpulse.lint.registry import Context, check


@check("promql/label_value", severity=ERROR, needs_catalogue=True)
def promql_label_value(ctx: Context) -> None:
    """A ``=`` or ``=~`` matcher can never match: the catalogue allows only a fixed set of values."""
    assert ctx.catalogue is not None
    for query in parsed_queries(ctx):
        for selector, _ in query.parsed.selectors:
            name = selector_name(selector)
            entry = ctx.catalogue.metric(name) if name else None
            if entry is None:
                continue
            metric = entry[0]
            for label_name, op, value in matchers(selector):
                label = metric.label(label_name)
                if label is None or label.values is None or is_variable(value):
                    continue
                allowed = sorted(label.values)
                if op == "=" and value not in label.values:
                    message = (
                        f'{name}{{{label_name}="{value}"}} can never match: {label_name} takes {", ".join(allowed)}'
                    )
                elif op == "=~" and not _regex_matches_any(value, allowed):
                    message = f'{name}{{{label_name}=~"{value}"}} matches none of {", ".join(allowed)}'
                else:
                    continue
                ctx.report(
                    query.path,
                    message,
                    query=query,
                    at=label_name,
                    hint=f"use one of the values the spec allows for {label_name}, or add the value there",
                    subjects=(name, label_name),
                )


def _regex_matches_any(pattern: str, values: list[str]) -> bool:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return True  # Go's RE2 syntax differs in places: do not guess
    return any(compiled.fullmatch(v) for v in values)
