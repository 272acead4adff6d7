"""The spec's Datadog keys: metric names by rule and by hand, PromQL translated to monitor queries, and
every mistake reported at its file:line:column."""

from __future__ import annotations

import pytest

from jobpulse.spec.datadog import DatadogCatalogue
from jobpulse.spec.datadog_translate import TranslationError, translate
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec_text
from tests.lint.util import CATALOGUE_SPEC

DATADOG = """\
datadog:
  metrics:
    http_requests_total:
      name: shop.http.requests
      derived: [{name: shop.http.errors, where: {status: error}}]
    http_request_duration_seconds: {name: shop.http.latency, unit: milliseconds}
"""


def catalogue(extra: str = DATADOG) -> DatadogCatalogue:
    spec = load_spec_text(CATALOGUE_SPEC + extra)
    assert spec.datadog is not None
    return spec.datadog.catalogue


def test_names_by_rule_and_by_hand() -> None:
    names = {name: m.name for name, m in catalogue().metrics.items()}
    assert names == {
        "http_requests_total": "shop.http.requests",
        "http_request_duration_seconds": "shop.http.latency",
        "queue_depth": "queue.depth",  # the dotted rule
    }
    types = {m.name: (m.type, m.scale) for m in catalogue().metrics.values()}
    assert types["shop.http.latency"] == ("distribution", 1000.0)
    assert types["queue.depth"] == ("gauge", 1.0) and types["shop.http.requests"] == ("count", 1.0)
    same = catalogue("datadog: {names: same}\n")
    assert same.metrics["queue_depth"].name == "queue_depth"


@pytest.mark.parametrize(
    ("expr", "query"),
    [
        (
            'sum(rate(http_requests_total{status="error",route="/a"}[5m])) / sum(rate(http_requests_total[5m])) > 0.01',
            "avg(last_5m):sum:shop.http.requests{status:error,route:/a}.as_rate() / "
            "sum:shop.http.requests{*}.as_rate() > 0.01",
        ),
        (
            'sum(rate(http_requests_total{status=~"error"}[5m])) / sum(rate(http_requests_total[5m])) > 0.01',
            "avg(last_5m):sum:shop.http.errors{*}.as_rate() / sum:shop.http.requests{*}.as_rate() > 0.01",
        ),
        (
            'avg(avg_over_time(queue_depth{queue="high"}[2m])) < 1',
            "avg(last_2m):avg:queue.depth{queue:high} < 1",
        ),
        ("max by (queue) (max_over_time(queue_depth[1h])) >= 100", "max(last_1h):max:queue.depth{*} by {queue} >= 100"),
        ("sum(increase(http_requests_total[10m])) > 100", "sum(last_10m):sum:shop.http.requests{*}.as_count() > 100"),
        (
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.25",
            "percentile(last_5m):p99:shop.http.latency{*} > 250",
        ),
        (
            '100 * (sum(rate(http_requests_total{status!="ok"}[5m])) / sum(rate(http_requests_total[5m]))) > 5',
            "avg(last_5m):100 * (sum:shop.http.requests{!status:ok}.as_rate() / "
            "sum:shop.http.requests{*}.as_rate()) > 5",
        ),
    ],
)
def test_translations(expr: str, query: str) -> None:
    assert translate(expr, catalogue()).query == query


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("rate(http_requests_total[5m]) > 1", "wrap each series in sum"),
        ("sum(rate(http_requests_total[5m]))", "must end with a comparison"),
        ('sum(rate(http_requests_total{status=~"e.*"}[5m])) > 1', "declare a derived Datadog counter"),
        ("sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[10m])) > 1", "same range"),
        ("sum(rate(http_requests_total[5m] offset 1h)) > 1", "offset"),
        ("sum(rate(queue_depth[5m])) > 1", "for counters"),
        ("histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m])) > 1", "sum by \\(le\\)"),
        ("sum without (route) (rate(http_requests_total[5m])) > 1", "without"),
        ("count(rate(http_requests_total[5m])) > 1", "count"),
        ("sum(queue_depth) > 1", "rate\\(\\), increase\\(\\) or a \\*_over_time"),
    ],
)
def test_untranslatable_expressions_say_why(expr: str, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        translate(expr, catalogue())


ALERT = """\
alerts:
  - name: Errors
    expr: {expr}
    for: 5m
    severity: critical
    summary: Errors
    description: Errors.
    datadog: {datadog}
"""


def load_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec_text(CATALOGUE_SPEC + text, "spec.yaml")
    return str(info.value)


def test_an_untranslatable_alert_is_a_located_spec_error() -> None:
    message = load_error(ALERT.format(expr="rate(http_requests_total[5m]) > 1", datadog="true"))
    assert "spec.yaml:" in message and "alerts[0].expr" in message and "wrap each series" in message


def test_a_hand_written_query_is_checked() -> None:
    bad = "{query: 'avg(last_5m):sum:shop.http.request{*}.as_rate() > 1'}"
    message = load_error(DATADOG + ALERT.format(expr="sum(rate(http_requests_total[5m])) > 1", datadog=bad))
    assert "unknown Datadog metric 'shop.http.request'" in message and "did you mean 'shop.http.requests'" in message
    bad = "{query: 'avg(last_5m):sum:shop.http.requests{*}.as_rate()'}"
    message = load_error(DATADOG + ALERT.format(expr="sum(rate(http_requests_total[5m])) > 1", datadog=bad))
    assert "must end with a comparison" in message


DASHBOARD = """\
dashboards:
  - title: Shop
    variables: [{{name: route, query: "label_values(http_requests_total, route)"}}]
    datadog: true
    panels:
      - title: Requests
        unit: reqps
        expr: sum(rate(http_requests_total{{route="$route"}}[5m]))
        datadog: {widget}
"""


def test_widget_queries_are_checked_at_load() -> None:
    ok = DASHBOARD.format(widget="{query: 'sum:queue.depth{$route}'}")
    spec = load_spec_text(CATALOGUE_SPEC + ok)
    assert spec.datadog is not None and spec.datadog.dashboards[0].template_variables[0].prefix == "route"
    cases = {
        "{query: 'sum:queue.dept{$route}'}": "unknown Datadog metric 'queue.dept'",
        "{query: 'sum:queue.depth{$env}'}": "unknown template variable $env",
        "{query: 'p95:queue.depth{*}'}": "needs a distribution",
        "{queries: {a: 'sum:queue.depth{*}'}, formulas: [100 * b]}": "uses 'b'",
        "{query: 'sum:queue.depth{*}', queries: {a: 'sum:queue.depth{*}'}}": "either `query` or `queries`",
    }
    for widget, message in cases.items():
        assert message in load_error(DASHBOARD.format(widget=widget)), widget


def test_a_widget_on_a_dashboard_not_sent_to_datadog_is_an_error() -> None:
    text = DASHBOARD.format(widget="{query: 'sum:queue.depth{*}'}").replace("    datadog: true\n", "")
    assert "not sent to Datadog" in load_error(text)


def test_grafana_variables_are_checked() -> None:
    text = DASHBOARD.format(widget="{query: 'sum:queue.depth{*}'}").replace("http_requests_total, route", "nope, x")
    assert "unknown metric 'nope' in label_values()" in load_error(text)
