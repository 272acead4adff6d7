"""Datadog widget formulas (``100 * errors / requests``, ``per_minute(query1)``): the query names they use."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobpulse.spec.datadog_query import DatadogQueryError

__all__ = ["FORMULA_FUNCTIONS", "Formula", "parse_formula"]

#: functions allowed in widget formulas (https://docs.datadoghq.com/dashboards/functions/)
FORMULA_FUNCTIONS = frozenset(
    {
        "abs",
        "log2",
        "log10",
        "cumsum",
        "integral",
        "diff",
        "derivative",
        "per_second",
        "per_minute",
        "per_hour",
        "rollup",
        "top",
        "hour_before",
        "day_before",
        "week_before",
        "month_before",
        "timeshift",
        "clamp_min",
        "clamp_max",
        "default_zero",
        "ewma_3",
        "ewma_5",
        "ewma_10",
        "median_3",
        "median_5",
    }
)


@dataclass(frozen=True)
class Formula:
    text: str
    names: tuple[tuple[str, int], ...]  # query names referenced, with their offsets
    functions: tuple[str, ...]


_FORMULA_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/(),]))")


def parse_formula(text: str) -> Formula:
    """A widget formula such as ``100 * errors / requests`` or ``per_minute(query1)``."""
    names: list[tuple[str, int]] = []
    functions: list[str] = []
    pos = 0
    depth = 0
    expect_operand = True
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        match = _FORMULA_TOKEN.match(text, pos)
        if match is None:
            raise DatadogQueryError(f"unexpected {text[pos]!r} in the formula", pos)
        kind = match.lastgroup or ""
        value, start = match.group(kind), match.start(kind)
        pos = match.end()
        if kind in ("number", "name"):
            if not expect_operand:
                raise DatadogQueryError(f"expected an operator before {value!r}", start)
            if kind == "name" and text[pos:].lstrip().startswith("("):
                if value not in FORMULA_FUNCTIONS:
                    raise DatadogQueryError(f"unknown formula function {value}()", start)
                functions.append(value)
                continue  # the "(" follows
            if kind == "name":
                names.append((value, start))
            expect_operand = False
        elif value == "(":
            if not expect_operand:
                raise DatadogQueryError("expected an operator before '('", start)
            depth += 1
        elif value == ")":
            if expect_operand or depth == 0:
                raise DatadogQueryError("unexpected ')'", start)
            depth -= 1
        elif value == ",":
            if expect_operand or depth == 0:
                raise DatadogQueryError("unexpected ','", start)
            expect_operand = True
        else:  # + - * /
            if expect_operand and value != "-":
                raise DatadogQueryError(f"expected a query name or a number before {value!r}", start)
            expect_operand = True
    if expect_operand:
        raise DatadogQueryError("the formula ends too early", len(text))
    if depth:
        raise DatadogQueryError("'(' is not closed", len(text))
    if not names:
        raise DatadogQueryError("a formula refers to at least one query by its name", 0)
    return Formula(text, tuple(names), tuple(functions))
