"""Shared by the ``datadog/*`` checks: parse a Datadog query once, locate a problem inside it."""

from __future__ import annotations

from jobpulse.lint.documents import DatadogQuery
from jobpulse.spec.datadog_query import (
    DatadogQueryError,
    MetricQuery,
    MonitorQuery,
    parse_metric_query,
    parse_monitor_query,
)


def parse(query: DatadogQuery) -> MonitorQuery | MetricQuery:
    """The parsed query (a monitor's or a widget's); raises :class:`DatadogQueryError`."""
    text = query.query.strip()
    return parse_monitor_query(text) if query.kind == "monitor" else parse_metric_query(text)


def metric_queries(query: DatadogQuery) -> tuple[MetricQuery, ...]:
    """The metric queries inside ``query``; none when it does not parse (datadog/syntax reports that)."""
    try:
        parsed = parse(query)
    except DatadogQueryError:
        return ()
    return parsed.metrics if isinstance(parsed, MonitorQuery) else (parsed,)


def token_at(text: str, offset: int) -> tuple[str, int]:
    """The word at ``offset`` in ``text`` and which occurrence of it that is, for ``Context.report(at=, nth=)``."""
    text = text.strip()
    offset = max(0, min(offset, len(text) - 1)) if text else 0
    end = offset
    while end < len(text) and not text[end].isspace() and text[end] not in ",{}()":
        end += 1
    token = text[offset:end] or text[offset : offset + 1]
    return token, text.count(token, 0, offset) if token else 0
