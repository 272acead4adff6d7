"""Datadog metric queries: parse monitor and widget queries and format them (formulas: ``datadog_formula``).

Monitor query: ``time_aggr(last_5m):space_aggr:metric{tags} [by {keys}][.as_rate()] [op ...] comparator number``,
with change alerts written ``change(sum(last_10m),last_10m):...`` and distribution percentiles
``percentile(last_5m):p95:metric{...}``. A widget query is one metric query without the head and comparison.
Every node keeps its offset in the text, so lint can point at the part that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "COMPARATORS",
    "DatadogQueryError",
    "MetricQuery",
    "MonitorQuery",
    "Tag",
    "format_number",
    "parse_metric_query",
    "parse_monitor_query",
    "window_seconds",
]

SPACE_AGGREGATORS = frozenset({"avg", "sum", "min", "max", "count"})
TIME_AGGREGATORS = frozenset({"avg", "sum", "min", "max", "percentile"})
CHANGE_FUNCTIONS = frozenset({"change", "pct_change"})
METHODS = frozenset({"as_rate", "as_count", "rollup", "fill", "weighted"})
COMPARATORS = (">=", "<=", ">", "<")
PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
WINDOW = re.compile(r"^last_(\d+)([mhdw])$")
SHIFT = re.compile(r"^(?:last_)?(\d+)([mhdw])(?:_ago)?$")
TAG = re.compile(r"^!?(?:\*|\$[A-Za-z_][A-Za-z0-9_]*(?:\.value)?|[A-Za-z][A-Za-z0-9_.\-/]*(?::[^\s,{}()]+)?)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class DatadogQueryError(ValueError):
    """A query that does not parse; ``offset`` is where in the text the problem is (0-based)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Tag:
    text: str
    offset: int

    @property
    def negated(self) -> bool:
        return self.text.startswith("!")

    @property
    def variable(self) -> str | None:
        """``$env`` → ``env``; None for a plain tag."""
        body = self.text.lstrip("!")
        return body[1:].split(".")[0] if body.startswith("$") else None

    @property
    def key(self) -> str | None:
        body = self.text.lstrip("!")
        if body == "*" or body.startswith("$"):
            return None
        return body.split(":", 1)[0]

    @property
    def value(self) -> str | None:
        body = self.text.lstrip("!")
        return body.split(":", 1)[1] if ":" in body and not body.startswith("$") else None


@dataclass(frozen=True)
class MetricQuery:
    """``aggregator:metric{tags} by {keys}.method()`` and where it starts and ends in the text."""

    aggregator: str
    metric: str
    tags: tuple[Tag, ...]
    by: tuple[str, ...]
    methods: tuple[str, ...]
    offset: int
    end: int
    metric_offset: int

    @property
    def percentile(self) -> float | None:
        match = PERCENTILE.match(self.aggregator)
        return float(match.group(1)) if match else None


@dataclass(frozen=True)
class MonitorQuery:
    text: str
    time_aggregation: str  # avg | sum | min | max | percentile | change | pct_change
    window: str  # last_5m
    change_aggregation: str | None  # change(sum(last_10m), last_10m): sum
    shift: str | None  # ... and last_10m
    metrics: tuple[MetricQuery, ...]
    comparator: str
    threshold: float
    threshold_text: str
    threshold_offset: int

    @property
    def window_seconds(self) -> float:
        seconds = window_seconds(self.window)
        assert seconds is not None
        return seconds


def window_seconds(window: str) -> float | None:
    """``last_5m`` → 300.0 (also ``5m`` and ``5m_ago``); None for anything else."""
    match = SHIFT.match(window)
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)]) if match else None


def format_number(value: float) -> str:
    """The shortest text for a threshold: 0.01, 3000, 1 (never 1e-05 style for ordinary numbers)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text if float(text) == value else repr(value)


# -- tokenizer ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<cmp>>=|<=|>|<)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[(){}:,*/+\-]))"
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, offset: int | None = None) -> DatadogQueryError:
        return DatadogQueryError(message, self.pos if offset is None else offset)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> tuple[str, str, int] | None:
        match = _TOKEN.match(self.text, self.pos)
        if match is None or match.end() == match.start():
            return None
        kind = match.lastgroup or ""
        return kind, match.group(kind), match.start(kind)

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.error("the query ends too early")
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        match = _TOKEN.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()
        return token

    def expect(self, value: str) -> int:
        token = self.peek()
        if token is None or token[1] != value:
            self.skip_space()
            got = repr(token[1]) if token else ("the end" if self.pos >= len(self.text) else repr(self.text[self.pos]))
            raise self.error(f"expected {value!r}, got {got}")
        self.take()
        return token[2]

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value

    def done(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def window(self) -> str:
        kind, window, offset = self.take()
        if kind != "name" or WINDOW.match(window) is None:
            raise self.error(
                f"expected an evaluation window such as last_5m, last_1h or last_1d, got {window!r}", offset
            )
        return window

    # -- metric query ---------------------------------------------------------------------------------------
    def metric_query(self) -> MetricQuery:
        kind, aggregator, start = self.take()
        if kind != "name" or not (aggregator in SPACE_AGGREGATORS or PERCENTILE.match(aggregator)):
            raise self.error(
                f"expected a space aggregator (avg, sum, min, max, count or pNN) before ':', got {aggregator!r}", start
            )
        self.expect(":")
        kind, metric, metric_offset = self.take()
        if kind != "name" or not METRIC_NAME.match(metric):
            raise self.error(f"expected a metric name, got {metric!r}", metric_offset)
        if len(metric) > 200:
            raise self.error("a Datadog metric name has at most 200 characters", metric_offset)
        tags = self.tags()
        by: tuple[str, ...] = ()
        methods: list[str] = []
        while True:
            if self.at("by") and not by:
                self.take()
                by = tuple(tag.text for tag in self.tags(keys=True))
                continue
            if self.text.startswith(".", self.pos):
                method_offset = self.pos + 1
                self.pos += 1
                kind, method, _ = self.take()
                if kind != "name" or method not in METHODS:
                    raise self.error(
                        f"unknown method .{method}(); expected {', '.join(sorted(METHODS))}", method_offset
                    )
                self.expect("(")
                depth = 1
                while depth:  # rollup(sum, 60), fill(null): arguments are not checked further
                    if self.pos >= len(self.text):
                        raise self.error(f".{method}( is not closed")
                    char = self.text[self.pos]
                    depth += (char == "(") - (char == ")")
                    self.pos += 1
                methods.append(method)
                continue
            break
        return MetricQuery(aggregator, metric, tags, by, tuple(methods), start, self.pos, metric_offset)

    def tags(self, *, keys: bool = False) -> tuple[Tag, ...]:
        self.skip_space()
        if not self.text.startswith("{", self.pos):
            raise self.error("expected '{' with the tags (write {*} for all)")
        close = self.text.find("}", self.pos)
        if close < 0:
            raise self.error("'{' is not closed")
        body_start = self.pos + 1
        body = self.text[body_start:close]
        tags: list[Tag] = []
        offset = body_start
        for part in body.split(","):
            stripped = part.strip()
            where = offset + (len(part) - len(part.lstrip()))
            offset += len(part) + 1
            if not stripped:
                raise self.error("an empty tag between commas", where)
            pattern = r"^[A-Za-z][A-Za-z0-9_.\-/]*$" if keys else TAG.pattern
            if not re.match(pattern, stripped):
                what = "a tag key" if keys else "a tag (key:value, !key:value, $variable or *)"
                raise self.error(f"expected {what}, got {stripped!r}", where)
            tags.append(Tag(stripped, where))
        self.pos = close + 1
        if not keys and len(tags) > 1 and any(t.text == "*" for t in tags):
            raise self.error("'*' stands alone: {*} means every tag", body_start)
        return tuple(tags)

    # -- arithmetic over metric queries ------------------------------------------------------------------
    def expression(self, metrics: list[MetricQuery]) -> None:
        self.term(metrics)
        while self.at("+") or self.at("-"):
            self.take()
            self.term(metrics)

    def term(self, metrics: list[MetricQuery]) -> None:
        self.factor(metrics)
        while self.at("*") or self.at("/"):
            self.take()
            self.factor(metrics)

    def factor(self, metrics: list[MetricQuery]) -> None:
        token = self.peek()
        if token is None:
            self.skip_space()
            raise self.error("expected a metric query or a number")
        kind, value, start = token
        if kind == "number":
            self.take()
        elif value == "(":
            self.take()
            self.expression(metrics)
            self.expect(")")
        elif value == "-":
            self.take()
            self.factor(metrics)
        elif kind == "name":
            metrics.append(self.metric_query())
        else:
            raise self.error(f"expected a metric query or a number, got {value!r}", start)


def parse_metric_query(text: str) -> MetricQuery:
    """One widget query: ``sum:prompter.http.requests{$env,$svc} by {status}.as_rate()``."""
    parser = _Parser(text)
    query = parser.metric_query()
    if not parser.done():
        raise parser.error(f"unexpected {text[parser.pos :]!r} after the query")
    return query


def parse_monitor_query(text: str) -> MonitorQuery:
    """A metric monitor's query; raises :class:`DatadogQueryError` with the offset of the problem."""
    parser = _Parser(text)
    kind, head, start = parser.take()
    change_aggregation = shift = None
    if kind != "name" or head not in TIME_AGGREGATORS | CHANGE_FUNCTIONS:
        raise parser.error(
            "a monitor query starts with a time aggregation: avg(last_5m):, sum(...), min, max, "
            f"percentile, change or pct_change, got {head!r}",
            start,
        )
    parser.expect("(")
    if head in CHANGE_FUNCTIONS:
        kind, change_aggregation, inner = parser.take()
        if change_aggregation not in {"avg", "sum", "min", "max"}:
            raise parser.error(f"expected avg, sum, min or max inside {head}(), got {change_aggregation!r}", inner)
        parser.expect("(")
        window = parser.window()
        parser.expect(")")
        parser.expect(",")
        kind, shift, shift_offset = parser.take()
        if SHIFT.match(shift) is None:
            raise parser.error(f"expected a time shift such as last_10m or 10m_ago, got {shift!r}", shift_offset)
    else:
        window = parser.window()
    parser.expect(")")
    parser.expect(":")
    metrics: list[MetricQuery] = []
    parser.expression(metrics)
    token = parser.peek()
    if token is None or token[0] != "cmp":
        parser.skip_space()
        raise parser.error("the query must end with a comparison to the critical threshold, such as > 0.05")
    parser.take()
    comparator = token[1]
    negative = parser.at("-")
    if negative:
        parser.take()
    number = parser.peek()
    if number is None or number[0] != "number":
        parser.skip_space()
        raise parser.error("expected a number after the comparison")
    parser.take()
    if not parser.done():
        raise parser.error(f"unexpected {text[parser.pos :]!r} after the threshold")
    if head == "percentile" and not all(m.percentile is not None for m in metrics):
        bad = next(m for m in metrics if m.percentile is None)
        raise parser.error("percentile(...) monitors query a pNN: aggregate (p95:metric{...})", bad.offset)
    threshold_text = ("-" if negative else "") + number[1]
    return MonitorQuery(
        text=text,
        time_aggregation=head,
        window=window,
        change_aggregation=change_aggregation,
        shift=shift,
        metrics=tuple(metrics),
        comparator=comparator,
        threshold=float(threshold_text),
        threshold_text=threshold_text,
        threshold_offset=number[2] - (1 if negative else 0),
    )
