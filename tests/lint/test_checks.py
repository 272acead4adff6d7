"""Each check with an example that fails and one that passes (its ``failing`` and ``passing`` cases)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jobpulse.lint.online import PrometheusAPI
from jobpulse.lint.problem import Severity
from jobpulse.lint.registry import all_checks
from tests.lint.util import CATALOGUE_SPEC, dashboard, found, lint, monitor, panel, rules


class FakePrometheus(PrometheusAPI):
    """A Prometheus that has exactly these series (as selector strings)."""

    def __init__(self, existing: set[str]) -> None:
        super().__init__("http://prometheus.invalid:9090")
        self.existing = existing

    def has_series(self, selector: str) -> bool:
        return selector in self.existing


def spec(metrics: str = "", alerts: str = "", lint_section: str = "") -> str:
    text = CATALOGUE_SPEC + metrics
    if alerts:
        text += "alerts:\n" + alerts
    return text + lint_section


ALERT = """\
  - name: TestAlert
    expr: {expr}
    for: 5m
    severity: warning
    summary: Something is wrong
    description: "{description}"
"""


@dataclass(frozen=True)
class Case:
    check: str
    text: str
    expect: int  # how many problems of `check`
    file: str = "rules.yml"
    with_catalogue: bool = True
    online: frozenset[str] | None = None
    catalogue: str = CATALOGUE_SPEC

    @property
    def id(self) -> str:
        return f"{self.check}-{'failing' if self.expect else 'passing'}"


R = "rate(http_requests_total[5m])"
#: a dashboard's templating with a datasource and a variable `s`
WITH_S = {"list": [{"name": "datasource", "type": "datasource"}, {"name": "s", "type": "custom"}]}
# the catalogue with Datadog names (http_requests_total -> http.requests, the 5xx counter derived from it)
DATADOG = (
    CATALOGUE_SPEC
    + """\
datadog:
  metrics:
    http_requests_total:
      name: http.requests
      derived: [{name: http.errors, where: {status: error}}]
    http_request_duration_seconds: {name: http.latency, unit: milliseconds}
"""
)
UNIQUE = "sum(increase(http_requests_total[10m])) - sum(increase(http_requests_total[10m] offset 10m)) > 100"


def both_forms(datadog_query: str) -> str:
    """A spec with one alert written in PromQL and, by hand, in Datadog's grammar."""
    alert = ALERT.format(expr=UNIQUE, description="x") + f"    datadog:\n      query: {datadog_query}\n"
    return DATADOG + "alerts:\n" + alert


CASES = [
    # promql/syntax
    Case("promql/syntax", rules("rate(http_requests_total[5m]"), 1, with_catalogue=False),
    Case("promql/syntax", rules(f"{R} > 1"), 0, with_catalogue=False),
    Case(
        "promql/syntax",
        dashboard(
            panel('sum(rate(http_requests_total{route=~"$r"}[$__interval]))'),
            templating={"list": [{"name": "datasource", "type": "datasource"}, {"name": "r", "type": "custom"}]},
        ),
        0,
        "d.json",
    ),
    # promql/series
    Case("promql/series", rules("rate(http_request_total[5m]) > 1"), 1),
    Case("promql/series", rules(f"{R} > 1 or up == 0"), 0),
    # promql/label
    Case("promql/label", rules('rate(http_requests_total{code="500"}[5m]) > 1'), 1),
    Case("promql/label", rules(f"sum by (code) ({R}) > 1"), 1),
    Case("promql/label", rules('sum by (route, instance) (rate(http_requests_total{status="error"}[5m])) > 1'), 0),
    # promql/label_value
    Case("promql/label_value", rules('rate(http_requests_total{status="500"}[5m]) > 1'), 1),
    Case("promql/label_value", rules('rate(http_requests_total{status=~"5.."}[5m]) > 1'), 1),
    Case("promql/label_value", rules('rate(http_requests_total{status=~"err.*"}[5m]) > 1'), 0),
    Case(
        "promql/label_value",
        dashboard(panel('sum(rate(http_requests_total{status="$s"}[5m]))'), templating=WITH_S),
        0,
        "d.json",
    ),
    # promql/counter
    Case("promql/counter", rules("http_requests_total > 100"), 1),
    Case("promql/counter", rules("sum(http_requests_total) > 100"), 1),
    Case("promql/counter", rules("jobs_done_total > 5"), 1, with_catalogue=False),
    Case("promql/counter", rules(f"{R} > 1 and on() count(http_requests_total) > 0"), 0),
    Case("promql/counter", rules("absent(http_requests_total)"), 0),
    # promql/gauge_rate
    Case("promql/gauge_rate", rules("rate(queue_depth[5m]) > 1"), 1),
    Case("promql/gauge_rate", rules("deriv(queue_depth[5m]) > 1"), 0),
    # promql/histogram_quantile
    Case(
        "promql/histogram_quantile",
        rules("histogram_quantile(0.9, sum(rate(http_request_duration_seconds_bucket[5m]))) > 1"),
        1,
    ),
    Case(
        "promql/histogram_quantile",
        rules("histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_count[5m]))) > 1"),
        1,
    ),
    Case(
        "promql/histogram_quantile",
        rules("histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m])) > 1"),
        1,
    ),
    Case(
        "promql/histogram_quantile",
        rules("histogram_quantile(0.9, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m]))) > 1"),
        0,
    ),
    # promql/range (the catalogue scrapes every 30s)
    Case("promql/range", rules("rate(http_requests_total[45s]) > 1"), 1),
    Case("promql/range", rules("rate(http_requests_total[1m]) > 1"), 0),
    # promql/vector_matching
    Case("promql/vector_matching", rules(f"sum by (status) ({R}) / sum({R}) > 0.1"), 1, with_catalogue=False),
    Case("promql/vector_matching", rules(f"{R} / queue_depth > 1"), 1),
    Case("promql/vector_matching", rules(f"sum by (route) ({R}) / on(queue) sum by (route) ({R}) > 1"), 1),
    # count() keeps no label, so on(instance) cannot match whatever the right side is (awesome-prometheus-alerts'
    # HostKernelVersionDeviations); no catalogue needed
    Case(
        "promql/vector_matching",
        rules("(count(sum by (kernel) (node_uname_info)) > 1) * on(instance) group_left (nodename) node_uname_info"),
        1,
        with_catalogue=False,
    ),
    Case(
        "promql/vector_matching",
        rules(f"sum by (status) ({R}) / ignoring(status) group_left sum({R}) > 0.1"),
        0,
    ),
    Case("promql/vector_matching", rules(f'rate(http_requests_total{{status="error"}}[5m]) / {R} > 0.1'), 0),
    # alerts/comparison
    Case("alerts/comparison", rules(R), 1),
    Case("alerts/comparison", rules(f"{R} > bool 1"), 1),
    Case("alerts/comparison", rules(f"{R} > 1"), 0),
    Case("alerts/comparison", rules("absent(up)"), 0),
    # alerts/for
    Case("alerts/for", rules(f"{R} > 1", for_=None), 1),
    Case("alerts/for", rules(f"{R} > 1", for_="0s"), 0),  # written on purpose (issue 14)
    Case("alerts/for", rules(f"{R} > 1"), 0),
    Case("alerts/for", rules("queue_depth > 10", for_=None), 0),
    # alerts/severity
    Case("alerts/severity", rules(f"{R} > 1", labels={}), 1),
    Case("alerts/severity", rules(f"{R} > 1", labels={"severity": "urgent"}), 1),
    Case("alerts/severity", rules(f"{R} > 1", labels={"severity": "critical"}), 0),
    # alerts/annotations
    Case("alerts/annotations", rules(f"{R} > 1", annotations={"summary": "s", "description": "d"}), 1),
    Case("alerts/annotations", rules(f"{R} > 1"), 0),
    # alerts/template
    Case(
        "alerts/template",
        rules(f"sum({R}) > 1", annotations={"summary": "s", "description": "{{ $labels.route }}", "runbook_url": "r"}),
        1,
    ),
    Case("alerts/template", rules(f"{R} > 1", labels={"severity": "warning", "value": "{{ $value }}"}), 1),
    Case(
        "alerts/template",
        rules(
            f"sum by (route) ({R}) > 1",
            annotations={"summary": "s", "description": "{{ $labels.route }}: {{ $value }}", "runbook_url": "r"},
        ),
        0,
    ),
    # naming/counter_total
    Case("naming/counter_total", spec("  - {name: jobs_done, type: counter, help: Jobs.}\n"), 1, "spec.yaml"),
    Case("naming/counter_total", spec("  - {name: jobs_waiting_total, type: gauge, help: Jobs.}\n"), 1, "spec.yaml"),
    Case("naming/counter_total", spec("  - {name: jobs_done_total, type: counter, help: Jobs.}\n"), 0, "spec.yaml"),
    # naming/units
    Case(
        "naming/units",
        spec("  - {name: job_ms, type: histogram, unit: milliseconds, help: Jobs., buckets: [1, 10]}\n"),
        1,
        "spec.yaml",
    ),
    Case("naming/units", spec("  - {name: job_duration, type: histogram, unit: seconds, help: J.}\n"), 1, "spec.yaml"),
    Case("naming/units", spec("  - {name: job_size_bytes, type: gauge, unit: seconds, help: J.}\n"), 1, "spec.yaml"),
    Case("naming/units", rules("histogram_quantile(0.9, sum by (le) (rate(x_milliseconds_bucket[5m]))) > 1"), 1),
    Case("naming/units", spec("  - {name: job_seconds, type: histogram, unit: seconds, help: J.}\n"), 0, "spec.yaml"),
    # labels/cardinality
    Case(
        "labels/cardinality",
        spec("  - {name: logins_total, type: counter, help: L., labels: {user_id: {max_values: 100000}}}\n"),
        1,
        "spec.yaml",
    ),
    Case("labels/cardinality", rules(f"sum by (customer_id) ({R}) > 1"), 1, with_catalogue=False),
    Case(
        "labels/cardinality",
        spec("  - {name: logins_total, type: counter, help: L., labels: {tenant_id: {max_values: 50}}}\n"),
        0,
        "spec.yaml",
    ),
    Case("labels/cardinality", rules(f"sum by (route) ({R}) > 1"), 0),
    # dashboard/uid
    Case("dashboard/uid", dashboard(uid=None), 1, "d.json"),
    Case("dashboard/uid", dashboard(uid="my dashboard!"), 1, "d.json"),
    Case("dashboard/uid", dashboard(uid="x" * 41), 1, "d.json"),
    Case("dashboard/uid", dashboard(), 0, "d.json"),
    # dashboard/panel_ids
    Case("dashboard/panel_ids", dashboard(panel("up", 1), panel("up", 1)), 1, "d.json"),
    Case("dashboard/panel_ids", dashboard(panel("up", 0)), 1, "d.json"),
    Case("dashboard/panel_ids", dashboard(panel("up", 1), panel("up", 2)), 0, "d.json"),
    # dashboard/datasource
    Case("dashboard/datasource", dashboard(panel("up", datasource={"uid": "P1809F7CD0C75ACF3"})), 1, "d.json"),
    Case("dashboard/datasource", dashboard(templating={"list": []}), 1, "d.json"),
    Case("dashboard/datasource", dashboard(), 0, "d.json"),
    # dashboard/variables (more in tests/lint/checks/test_dashboard_variables.py)
    Case("dashboard/variables", dashboard(panel('sum(rate(http_requests_total{route="$route"}[5m]))')), 1, "d.json"),
    Case("dashboard/variables", dashboard(), 0, "d.json"),
    # dashboard/rate_interval
    Case("dashboard/rate_interval", dashboard(panel(f"sum({R})")), 1, "d.json"),
    Case("dashboard/rate_interval", dashboard(panel("sum(rate(http_requests_total[$__rate_interval]))")), 0, "d.json"),
    Case("dashboard/rate_interval", rules(f"{R} > 1"), 0),
    # dashboard/unit
    Case("dashboard/unit", dashboard(panel("up", fieldConfig={"defaults": {}})), 1, "d.json"),
    Case("dashboard/unit", dashboard(panel("up")), 0, "d.json"),
    # datadog/threshold
    Case("datadog/threshold", monitor("avg(last_5m):avg:app.errors{*} > 5", 10), 1, "m.json"),
    Case("datadog/threshold", monitor("avg(last_5m):avg:app.errors{*}", 10), 1, "m.json"),
    Case("datadog/threshold", monitor("avg(last_5m):avg:app.errors{*} > 5", 5), 0, "m.json"),
    # datadog/syntax
    Case("datadog/syntax", monitor("avg(5m):avg:app.errors{*} > 5", 5), 1, "m.json"),
    Case("datadog/syntax", monitor("avg(last_5m):avg:app.errors{env prod} > 5", 5), 1, "m.json"),
    Case("datadog/syntax", monitor("avg(last_5m):avg:app.errors{env:prod} > 5", 5), 0, "m.json"),
    # datadog/metric (the catalogue's Datadog names)
    Case(
        "datadog/metric", monitor("avg(last_5m):sum:http.request{*}.as_rate() > 5", 5), 1, "m.json", catalogue=DATADOG
    ),
    Case("datadog/metric", monitor("percentile(last_5m):p95:http.requests{*} > 5", 5), 1, "m.json", catalogue=DATADOG),
    Case(
        "datadog/metric",
        monitor("avg(last_5m):sum:http.errors{*}.as_rate() / sum:http.requests{*}.as_rate() > 5", 5),
        0,
        "m.json",
        catalogue=DATADOG,
    ),
    Case(
        "datadog/metric", monitor("percentile(last_5m):p95:http.latency{*} > 300", 300), 0, "m.json", catalogue=DATADOG
    ),
    # datadog/threshold_order
    Case("datadog/threshold_order", monitor("avg(last_5m):avg:app.errors{*} > 5", 5, warning=8), 1, "m.json"),
    Case("datadog/threshold_order", monitor("avg(last_5m):avg:app.errors{*} < 5", 5, warning=3), 1, "m.json"),
    Case("datadog/threshold_order", monitor("avg(last_5m):avg:app.errors{*} > 5", 5, critical_recovery=6), 1, "m.json"),
    Case("datadog/threshold_order", monitor("avg(last_5m):avg:app.errors{*} > 5", None, warning=3), 1, "m.json"),
    Case("datadog/threshold_order", monitor("avg(last_5m):avg:app.errors{*} > 5", 5, warning=3), 0, "m.json"),
    # datadog/agreement (a spec: both forms of one alert)
    Case(
        "datadog/agreement",
        both_forms("change(sum(last_10m),last_10m):sum:http.requests{*}.as_count() > 50"),
        1,
        "spec.yaml",
    ),
    Case(
        "datadog/agreement",
        both_forms("change(sum(last_5m),last_1h):sum:http.requests{*}.as_count() < 100"),
        3,
        "spec.yaml",
    ),
    Case(
        "datadog/agreement",
        both_forms("change(sum(last_10m),last_10m):sum:http.requests{*}.as_count() > 100"),
        0,
        "spec.yaml",
    ),
    # document/structure
    Case("document/structure", "groups:\n  - name: g\n    rules:\n      - alert: A\n", 1),
    Case("document/structure", "groups:\n  - name: g\n    rules: {}\n", 1),
    Case("document/structure", rules(f"{R} > 1"), 0),
    # lint/suppression
    Case("lint/suppression", rules(f"{R} > 1") + "# jobpulse: disable=alerts/for\n", 1),
    Case("lint/suppression", rules(f"{R} > 1") + "# jobpulse: disable=no/such -- why\n", 1),
    Case("lint/suppression", rules(f"{R}", for_=None).replace("for:", "x:"), 0),
    # online/series (a stand-in Prometheus; tests/lint/test_online.py asks a real one)
    Case("online/series", rules(f"{R} > 1"), 1, online=frozenset()),
    Case(
        "online/series",
        rules('rate(http_requests_total{status="error"}[5m]) > 1'),
        1,
        online=frozenset({'{__name__="http_requests_total"}'}),
    ),
    Case(
        "online/series",
        rules(f"{R} > 1"),
        0,
        online=frozenset({'{__name__="http_requests_total"}'}),
    ),
    # rules/target (default target: a current Prometheus; more in tests/lint/checks/test_rules_target.py)
    Case("rules/target", rules(f"{R} > 1").replace("- name: test\n", "- name: test\n  concurrency: 2\n"), 1),
    Case("rules/target", rules(f"{R} > 1", keep_firing_for="5m"), 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_case(case: Case) -> None:
    online = FakePrometheus(set(case.online)) if case.online is not None else None
    problems = lint(case.text, case.file, with_catalogue=case.with_catalogue, online=online, spec=case.catalogue)
    got = found(problems, case.check)
    assert len(got) == case.expect, [f"{p.check}: {p.message}" for p in problems]
    for problem in got:
        assert problem.message and problem.hint, problem
        assert problem.line >= 1 and problem.column >= 1


def test_every_check_has_a_failing_and_a_passing_case() -> None:
    failing = {c.check for c in CASES if c.expect}
    passing = {c.check for c in CASES if not c.expect}
    assert failing == set(all_checks()), set(all_checks()) ^ failing
    assert passing == set(all_checks()), set(all_checks()) ^ passing


def test_passing_cases_have_no_problems_of_any_check_at_error_level() -> None:
    for case in CASES:
        if case.expect or case.check == "online/series":
            continue
        problems = lint(case.text, case.file, with_catalogue=case.with_catalogue, spec=case.catalogue)
        assert not [p for p in problems if p.severity is Severity.ERROR], (case.id, problems)


def test_quantile_per_series_is_a_warning_and_lost_le_an_error() -> None:
    per_series = lint(rules("histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m])) > 1"))
    lost = lint(rules("histogram_quantile(0.9, sum(rate(http_request_duration_seconds_bucket[5m]))) > 1"))
    assert [p.severity for p in found(per_series, "promql/histogram_quantile")] == [Severity.WARNING]
    assert [p.severity for p in found(lost, "promql/histogram_quantile")] == [Severity.ERROR]


def test_a_counter_known_from_the_catalogue_is_an_error_one_guessed_from_its_name_a_warning() -> None:
    known = found(lint(rules("http_requests_total > 100")), "promql/counter")
    guessed = found(lint(rules("http_requests_total > 100"), with_catalogue=False), "promql/counter")
    assert [p.severity for p in known] == [Severity.ERROR]
    assert [p.severity for p in guessed] == [Severity.WARNING]
    assert "(by its name)" in guessed[0].message


def test_spec_severities_replace_the_default_set() -> None:
    alert = ALERT.format(expr="queue_depth > 10", description="d").replace("warning", "sev1")
    default = lint(spec(alerts=alert), "spec.yaml")
    custom = lint(spec(alerts=alert, lint_section="lint:\n  severities: [sev1, sev2]\n"), "spec.yaml")
    assert len(found(default, "alerts/severity")) == 1
    assert found(custom, "alerts/severity") == []
