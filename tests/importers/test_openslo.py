"""`jobpulse import` on real OpenSLO files (tests/importers/openslo_corpus) and on the shapes they come in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobpulse.cli.import_slos import import_command
from jobpulse.importers.openslo import convert
from jobpulse.spec.load import load_spec_text

CORPUS = Path(__file__).parent / "openslo_corpus"

#: file -> (exit code, converted SLOs as (name, objective, period, SLI kind), a phrase every refusal must contain)
EXPECTED: dict[str, tuple[int, list[tuple[str, float, str, str]], list[str]]] = {
    "openslo-occurrences-slo.yaml": (
        1,
        [],
        ["search-slo: the threshold metric's source type is the placeholder 'Any'"],
    ),
    "openslo-ratio-timeslices.yaml": (1, [], ["main-page: budgetingMethod RatioTimeslices", "placeholder 'Any'"]),
    "openslo-timeslices-slo.yaml": (
        1,
        [],
        ["service-availability-internal-objective: budgetingMethod Timeslices", "1m is 1 minute", "1M"],
    ),
    "openslo-low-traffic-timeslices.yaml": (1, [], ["service-availability: budgetingMethod Timeslices"]),
    "gosdk-v1-slos.yaml": (
        1,
        [],
        ["web-availability: budgetingMethod Timeslices counts good time slices (a 1m slice is good"],
    ),
    "gosdk-v1-slis.yaml": (1, [], ["no SLO to convert: the file holds only SLI documents"]),
    "gosdk-v1-alert-policies.yaml": (1, [], ["low-priority: AlertPolicy is not converted"]),
    "gosdk-v1alpha-slos.yaml": (1, [], ["SLO web-latency-threshold, SLO web-availability-ratio: OpenSLO v1alpha"]),
    "gosdk-v2alpha-slos.yaml": (1, [], ["SLO web-availability: OpenSLO v2alpha"]),
    "gosdk-decode-v1-slos.yaml": (0, [("foo-slo", 98.0, "30d", "events")], []),
    "gosdk-decode-two-documents.yaml": (1, [], ["no SLO to convert: the file holds only Service documents"]),
    "gosdk-decode-sequence-of-objects.yaml": (1, [], ["no SLO to convert: the file holds only Service documents"]),
    "gosdk-inline-v1-slo.yaml": (
        1,
        [],
        ["my-slo-1: budgetingMethod Timeslices", "min_over_time(kafka_consumergroup_lag", "not a histogram"],
    ),
    "oslo-validate-v1.yaml": (1, [], ["web-availability: budgetingMethod Timeslices"]),
    "oslo-validate-v1alpha.yaml": (1, [], ["SLO ratio, SLO my-amazing-slo: OpenSLO v1alpha"]),
    "oslo-validate-v2alpha-service.yaml": (1, [], ["Service example service: OpenSLO v2alpha"]),
    "osko-mimir-ingestion-latency.yaml": (0, [("mimir-ingestion-latency", 99.0, "28d", "events")], []),
    "osko-gatekeeper-webhook-0005s.yaml": (0, [("gatekeeper-webhook-response-time-0005s", 99.0, "28d", "latency")], []),
    "osko-loki-query-frontend.yaml": (0, [("logging-query-frontend-error-rate", 99.0, "28d", "events")], []),
    "osko-slo-sample-indicatorref.yaml": (
        1,
        [],
        ["slo-sample: target 0.99 and targetPercent 50 disagree", "indicatorRef 'string' names no kind: SLI"],
    ),
    "osko-sli-sample.yaml": (1, [], ["no SLO to convert: the file holds only SLI documents"]),
}

SPEC_HEAD = """\
version: jobpulse/v1
service: {name: corpus}
metrics:
  - {name: http_requests_total, type: counter, help: r, labels: {status_code: {max_values: 20}}}
  - {name: loki_request_duration_seconds, type: histogram, unit: seconds, help: r, buckets: [0.1, 1],
     labels: {route: {max_values: 50}, service: {max_values: 10}, status_code: {max_values: 20}}}
  - {name: cortex_distributor_query_duration_seconds, type: histogram, unit: seconds, help: r, buckets: [0.5, 1],
     labels: {method: {max_values: 10}, status_code: {max_values: 20}}}
  - {name: controller_runtime_webhook_latency_seconds, type: histogram, unit: seconds, help: r,
     buckets: [0.0005, 0.005]}
"""


def test_the_corpus_is_complete() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(EXPECTED)
    readme = (CORPUS / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_file_converts_or_is_refused_with_its_reasons(name: str, tmp_path: Path) -> None:
    code, slos, phrases = EXPECTED[name]
    out = tmp_path / "slos.yaml"
    result = CliRunner().invoke(import_command, [str(CORPUS / name), "-o", str(out)])
    assert result.exit_code == code, result.output
    converted = yaml.safe_load(out.read_text())["slos"]
    assert [(s["name"], s["objective"], s["period"], next(iter(s["sli"]))) for s in converted] == slos
    refusals = [line for line in result.output.splitlines() if line.startswith("not converted: ")]
    assert bool(refusals) == (code == 1)
    for phrase in phrases:
        assert phrase in result.output, result.output
    if converted:  # what converts loads into a spec whose catalogue has the metrics
        spec = load_spec_text(SPEC_HEAD + yaml.safe_dump({"slos": converted}), "s.yaml")
        assert [s.name for s in spec.slos] == [s[0] for s in slos]


def test_a_bucket_over_its_histograms_count_becomes_a_latency_sli() -> None:
    result = convert((CORPUS / "osko-gatekeeper-webhook-0005s.yaml").read_text())
    assert result.slos[0]["sli"] == {
        "latency": {"metric": "controller_runtime_webhook_latency_seconds", "threshold": 0.0005}
    }
    # a bucket selected with other labels than the count stays an events SLI, as written
    mimir = convert((CORPUS / "osko-mimir-ingestion-latency.yaml").read_text()).slos[0]["sli"]["events"]
    assert mimir["good"].startswith('cortex_distributor_query_duration_seconds_bucket{le="0.5"')


def _slo(indicator: str = "", extra: str = "", objectives: str = "") -> str:
    objectives = objectives or "  objectives:\n    - target: 0.99\n"
    return (
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: s}\nspec:\n  budgetingMethod: Occurrences\n"
        + (indicator or _RATIO)
        + extra
        + objectives
    )


_RATIO = """\
  indicator:
    metadata: {name: i}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(http_requests_total{code!~"5.."}[5m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(http_requests_total[5m]))'}}}
"""


def test_duration_1m_is_a_minute_not_a_month() -> None:
    result = convert(_slo(extra="  timeWindow: [{duration: 1m, isRolling: true}]\n"))
    assert result.slos == []
    assert "1m is 1 minute (OpenSLO writes a month as 1M)" in result.problems[0]
    month = convert(_slo(extra="  timeWindow: [{duration: 1M, isRolling: false}]\n"))
    assert (month.slos[0]["period"], month.slos[0]["calendar"]) == ("30d", "month")
    week = convert(_slo(extra="  timeWindow: [{duration: 1w, isRolling: true}]\n"))
    assert week.slos[0]["period"] == "7d"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("Any", "is a placeholder"),
        ('sum(count_over_time({app="api"} |= "error" [5m]))', "is a log query (LogQL)"),
        ('{app="api"} | json | status >= 500', "is a log query (LogQL)"),
        ("sum:requests{service:web}", "not valid PromQL"),
        ("1 - (sum(sum_over_time(x[{{.window}}])))", "is a template"),
        ("avg_over_time(up[5m])", "is not a count of events"),
    ],
)
def test_queries_that_are_not_prometheus_counters_are_refused(query: str, reason: str) -> None:
    indicator = (
        "  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n"
        f"        good: {{metricSource: {{type: Prometheus, spec: {{query: {query!r}}}}}}}\n"
        "        total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total'}}}\n"
    )
    result = convert(_slo(indicator))
    assert result.slos == [] and reason in result.problems[0], result.problems


def test_other_data_sources_are_refused_by_type() -> None:
    indicator = _RATIO.replace("type: Prometheus", "type: Datadog")
    result = convert(_slo(indicator))
    assert "is a Datadog query" in result.problems[0] and "not PromQL" in result.problems[0]
    # the type may come from a referenced DataSource document
    ref = _RATIO.replace("type: Prometheus", "metricSourceRef: dd")
    source = "---\napiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: dd}\nspec: {type: Datadog}\n"
    assert "is a Datadog query" in convert(_slo(ref) + source).problems[0]


def test_every_shape_of_file_is_read() -> None:
    sli = (
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: ok-ratio}\nspec:\n  ratioMetric:\n    counter: true\n"
        "    good: {metricSource: {type: Prometheus, spec: {query: 'jobs_total{outcome=\"ok\"}'}}}\n"
        "    total: {metricSource: {type: Prometheus, spec: {query: jobs_total}}}\n"
    )
    by_ref = _slo("  indicatorRef: ok-ratio\n")
    as_list = yaml.safe_dump([yaml.safe_load(sli), yaml.safe_load(by_ref)])
    for text in (sli + "---\n" + by_ref, as_list):
        result = convert(text)
        assert result.problems == []
        assert result.slos[0]["sli"] == {"events": {"good": 'jobs_total{outcome="ok"}', "total": "jobs_total"}}
    inline = convert(_slo())
    assert inline.slos[0]["sli"]["events"] == {
        "good": 'http_requests_total{code!~"5.."}',
        "total": "http_requests_total",
    }


def test_objectives_with_their_own_time_window_and_indicator() -> None:
    objectives = """\
  objectives:
    - displayName: fast
      target: 0.99
      timeWindow: [{duration: 7d, isRolling: true}]
    - displayName: slow
      targetPercent: 95
      indicatorRef: other
"""
    other = (
        "---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {name: other}\nspec:\n  ratioMetric:\n"
        "    bad: {metricSource: {type: Prometheus, spec: {query: 'errors_total'}}}\n"
        "    total: {metricSource: {type: Prometheus, spec: {query: 'requests_total'}}}\n"
    )
    result = convert(_slo(objectives=objectives, extra="  timeWindow: [{duration: 28d, isRolling: true}]\n") + other)
    assert [(s["name"], s["objective"], s["period"]) for s in result.slos] == [
        ("s-fast", 99.0, "7d"),
        ("s-slow", 95.0, "28d"),
    ]
    assert result.slos[1]["sli"] == {"events": {"bad": "errors_total", "total": "requests_total"}}


def test_a_file_with_nothing_to_convert_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: web}\n  spec: {}\n")
    result = CliRunner().invoke(import_command, [str(path)])
    assert result.exit_code == 1
    assert "not converted: no SLO to convert" in result.output
