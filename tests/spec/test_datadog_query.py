"""The Datadog query grammar: real monitor queries parse, every part is located, random text never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobpulse.spec.datadog_formula import parse_formula
from jobpulse.spec.datadog_query import (
    DatadogQueryError,
    format_number,
    parse_metric_query,
    parse_monitor_query,
    window_seconds,
)

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "seeds" / "seed003.monitors.json"


def test_the_seed_monitors_parse() -> None:
    for monitor in json.loads(SEED.read_text()):
        parsed = parse_monitor_query(monitor["query"])
        assert parsed.threshold == monitor["options"]["thresholds"]["critical"]


@pytest.mark.parametrize(
    ("query", "head", "window", "metrics", "comparator", "threshold"),
    [
        (
            "avg(last_5m):sum:prompter.http.status.5xx{env:prod}.as_rate() / "
            "sum:prompter.http.requests{env:prod}.as_rate() > 0.01",
            "avg",
            "last_5m",
            [("sum", "prompter.http.status.5xx"), ("sum", "prompter.http.requests")],
            ">",
            0.01,
        ),
        ("avg(last_2m):avg:prompter.redis.up{env:prod} < 1", "avg", "last_2m", [("avg", "prompter.redis.up")], "<", 1),
        (
            "percentile(last_5m):p95:prompter.ensure_version.latency{env:prod} > 3000",
            "percentile",
            "last_5m",
            [("p95", "prompter.ensure_version.latency")],
            ">",
            3000,
        ),
        (
            "change(sum(last_10m),last_10m):sum:prompter.db.unique_violation{env:prod}.as_count() > 100",
            "change",
            "last_10m",
            [("sum", "prompter.db.unique_violation")],
            ">",
            100,
        ),
        (
            "max(last_1h):max:system.cpu.user{env:prod,!host:db-1} by {host} >= -2.5",
            "max",
            "last_1h",
            [("max", "system.cpu.user")],
            ">=",
            -2.5,
        ),
        ("sum(last_1d):(sum:a{*}.as_count() - 100) * 2 <= 3", "sum", "last_1d", [("sum", "a")], "<=", 3),
    ],
)
def test_monitor_queries(
    query: str, head: str, window: str, metrics: list[tuple[str, str]], comparator: str, threshold: float
) -> None:
    parsed = parse_monitor_query(query)
    assert (parsed.time_aggregation, parsed.window, parsed.comparator, parsed.threshold) == (
        head,
        window,
        comparator,
        threshold,
    )
    assert [(m.aggregator, m.metric) for m in parsed.metrics] == metrics
    for metric in parsed.metrics:
        assert query[metric.metric_offset :].startswith(metric.metric)
    assert query[parsed.threshold_offset :].startswith(parsed.threshold_text)


@pytest.mark.parametrize(
    ("query", "message", "at"),
    [
        ("avg(last_5m):sum:x{*}", "must end with a comparison", None),
        ("avg(5m):sum:x{*} > 1", "evaluation window", "5m"),
        ("median(last_5m):sum:x{*} > 1", "starts with a time aggregation", "median"),
        ("avg(last_5m):total:x{*} > 1", "space aggregator", "total"),
        ("avg(last_5m):sum:x{a b} > 1", "expected a tag", "a b"),
        ("avg(last_5m):sum:x{*}.as_rates() > 1", "unknown method", "as_rates"),
        ("avg(last_5m):sum:x{*} > 1 extra", "after the threshold", None),
        ("percentile(last_5m):sum:x{*} > 1", "pNN", "sum"),
        ("avg(last_5m):sum:x{*,env:prod} > 1", "stands alone", None),
        ("avg(last_5m):sum:x > 1", "expected '{'", None),
    ],
)
def test_bad_queries_say_what_and_where(query: str, message: str, at: str | None) -> None:
    with pytest.raises(DatadogQueryError, match=message) as info:
        parse_monitor_query(query)
    if at is not None:
        assert query[info.value.offset :].startswith(at)


def test_widget_queries_and_formulas() -> None:
    query = parse_metric_query("sum:prompter.probe.attempts{$env,$svc.value} by {provider}.as_rate()")
    assert [t.variable for t in query.tags] == ["env", "svc"]
    assert query.by == ("provider",) and query.methods == ("as_rate",)
    assert parse_metric_query("p95:prompter.http.latency{$env}").percentile == 95
    formula = parse_formula("100 * errors / requests")
    assert [name for name, _ in formula.names] == ["errors", "requests"]
    assert parse_formula("per_minute(calls)").functions == ("per_minute",)
    for bad in ("100 *", "errors requests", "nope(errors)", "(errors", "errors)", "42"):
        with pytest.raises(DatadogQueryError):
            parse_formula(bad)


def test_numbers_and_windows() -> None:
    assert [format_number(v) for v in (0.01, 0.1, 3000.0, 1.0, 0.005, 2.5)] == [
        "0.01",
        "0.1",
        "3000",
        "1",
        "0.005",
        "2.5",
    ]
    assert window_seconds("last_10m") == 600 and window_seconds("last_1d") == 86400 and window_seconds("x") is None


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_a_located_error(text: str) -> None:
    for parse in (parse_monitor_query, parse_metric_query, parse_formula):
        try:
            parse(text)
        except DatadogQueryError as exc:
            assert 0 <= exc.offset <= len(text)


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,3}", fullmatch=True)
TAGS = st.lists(st.from_regex(r"[a-z]{1,6}:[a-z0-9\-]{1,6}", fullmatch=True), max_size=3)


@given(
    st.sampled_from(["avg", "sum", "min", "max"]),
    st.sampled_from(["avg", "sum", "min", "max", "count"]),
    NAMES,
    TAGS,
    st.sampled_from(["", ".as_rate()", ".as_count()"]),
    st.sampled_from([">", "<", ">=", "<="]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.integers(min_value=1, max_value=90),
)
def test_generated_queries_round_trip(
    time_aggr: str,
    space: str,
    metric: str,
    tags: list[str],
    method: str,
    comparator: str,
    threshold: float,
    minutes: int,
) -> None:
    text = f"{time_aggr}(last_{minutes}m):{space}:{metric}{{{','.join(tags) or '*'}}}{method} {comparator} "
    text += format_number(threshold)
    parsed = parse_monitor_query(text)
    assert parsed.metrics[0].metric == metric
    assert [t.text for t in parsed.metrics[0].tags] == (tags or ["*"])
    assert parsed.threshold == pytest.approx(threshold) and parsed.window_seconds == minutes * 60
