"""Every PromQL expression and alert of the five seeds, linted: the findings, one by one.

Each finding is (file, check, the alert/panel/metric it is about, severity). The real problems of the
seeds are the error-level ones (a panel that can never show data, an alert on an undefined metric) and
the convention warnings; every other expression must produce nothing, and nothing at error level.
"""

from __future__ import annotations

import pytest

from tests.lint.corpus import SEEDS, findings

W, E = "warning", "error"

EXPECTED: dict[str, list[tuple[str, str, str, str]]] = {
    "seed000": [
        # the histogram is in milliseconds, in its name and in every query of it
        ("catalogue.yaml", "naming/units", "preview_generation_job_duration_ms", W),
        # "Select your Prometheus datasource and click Import": an __inputs dashboard, no datasource variable
        ("dashboard.json", "dashboard/datasource", "Phase 2B preview generation", W),
        ("dashboard.json", "dashboard/datasource", "Preview jobs per minute", W),
        ("dashboard.json", "dashboard/rate_interval", "Preview jobs per minute", W),
        ("dashboard.json", "dashboard/datasource", "Job outcomes (%)", W),
        ("dashboard.json", "dashboard/rate_interval", "Job outcomes (%)", W),
        # sum by (outcome) (...) / sum (...): no labels in common, so the panel is always empty
        ("dashboard.json", "promql/vector_matching", "Job outcomes (%)", E),
        ("dashboard.json", "dashboard/rate_interval", "Job outcomes (%)", W),
        ("dashboard.json", "dashboard/datasource", "Preview queue depth", W),
        ("dashboard.json", "dashboard/datasource", "Job duration (p95 ms)", W),
        ("dashboard.json", "naming/units", "Job duration (p95 ms)", W),
        ("dashboard.json", "dashboard/rate_interval", "Job duration (p95 ms)", W),
        # no runbook_url on any alert; severity warn is not one of the defaults (page is: jobpulse's own)
        ("rules.yml", "alerts/annotations", "PreviewGenerationHighFailureRate", W),
        ("rules.yml", "alerts/annotations", "PreviewGenerationSlow", W),
        ("rules.yml", "naming/units", "PreviewGenerationSlow", W),
        ("rules.yml", "alerts/severity", "PreviewGenerationSlow", W),
        ("rules.yml", "alerts/annotations", "PreviewQueueStalled", W),
        ("rules.yml", "alerts/severity", "PreviewQueueStalled", W),
    ],
    "seed001": [
        ("dashboard.json", "dashboard/rate_interval", "Success Rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Success Rate", W),
        ("dashboard.json", "dashboard/rate_interval", "p95 Latency", W),
        ("dashboard.json", "dashboard/rate_interval", "Cache Hit Rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Cache Hit Rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Cache Hit Rate", W),
        ("rules.yml", "alerts/annotations", "BatchProcessingFailure", W),
        ("rules.yml", "alerts/annotations", "ServiceDown", W),
        ("rules.yml", "alerts/annotations", "DatabaseConnectionIssue", W),
        # "DB errors > 5": the seed's metric list has no database metric at all
        ("rules.yml", "promql/series", "DatabaseConnectionIssue", E),
        ("rules.yml", "alerts/annotations", "HighErrorRate", W),
        ("rules.yml", "alerts/annotations", "HighLatency", W),
        ("rules.yml", "alerts/annotations", "LLMHighErrorRate", W),
        ("rules.yml", "alerts/annotations", "HighActiveJobs", W),
        ("rules.yml", "alerts/annotations", "LowCacheHitRate", W),
    ],
    "seed002": [
        # shop_domain: one series per shop on the failure counter
        ("catalogue.yaml", "labels/cardinality", "luneo_embed_handshake_failures_total", W),
        ("rules.yml", "alerts/annotations", "QueueWaitTimeHigh", W),
        ("rules.yml", "alerts/annotations", "ErrorRateHigh", W),
        ("rules.yml", "alerts/annotations", "CostSpikeDetected", W),
    ],
    "seed003": [
        # "Select your Prometheus instance for DS_PROM": every panel uses the import input
        ("dashboard.json", "dashboard/datasource", "Prompter V7 rollout", W),
        ("dashboard.json", "dashboard/datasource", "Request rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Request rate", W),
        ("dashboard.json", "dashboard/datasource", "4xx rate", W),
        ("dashboard.json", "dashboard/rate_interval", "4xx rate", W),
        ("dashboard.json", "dashboard/datasource", "5xx rate", W),
        ("dashboard.json", "dashboard/rate_interval", "5xx rate", W),
        ("dashboard.json", "dashboard/datasource", "Latency p95", W),
        # histogram_quantile(0.95, rate(..._bucket[5m])) without sum by (le): a quantile per series
        ("dashboard.json", "promql/histogram_quantile", "Latency p95", W),
        ("dashboard.json", "dashboard/rate_interval", "Latency p95", W),
        ("dashboard.json", "dashboard/datasource", "Probe attempts", W),
        ("dashboard.json", "dashboard/rate_interval", "Probe attempts", W),
        ("dashboard.json", "dashboard/datasource", "Probe failures", W),
        ("dashboard.json", "dashboard/rate_interval", "Probe failures", W),
        # failures / attempts share provider and env, so this un-aggregated ratio does match
        ("dashboard.json", "dashboard/datasource", "Probe failure rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Probe failure rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Probe failure rate", W),
        ("dashboard.json", "dashboard/datasource", "Ensure-version p95", W),
        ("dashboard.json", "promql/histogram_quantile", "Ensure-version p95", W),
        ("dashboard.json", "dashboard/rate_interval", "Ensure-version p95", W),
        ("dashboard.json", "dashboard/datasource", "Version cache hit rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Version cache hit rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Version cache hit rate", W),
        ("dashboard.json", "dashboard/datasource", "Unique violations", W),
        ("dashboard.json", "dashboard/rate_interval", "Unique violations", W),
        ("dashboard.json", "dashboard/datasource", "Result insertions", W),
        ("dashboard.json", "dashboard/rate_interval", "Result insertions", W),
        ("dashboard.json", "dashboard/datasource", "OpenAI fingerprint presence", W),
        ("dashboard.json", "dashboard/rate_interval", "OpenAI fingerprint presence", W),
        # a ratio of un-aggregated rates: inserts carry env, fingerprints do not, so nothing matches
        ("dashboard.json", "promql/vector_matching", "OpenAI fingerprint presence", E),
        ("dashboard.json", "dashboard/rate_interval", "OpenAI fingerprint presence", W),
        ("dashboard.json", "dashboard/datasource", "Redis availability", W),
        ("dashboard.json", "dashboard/datasource", "Celery task p95", W),
        ("dashboard.json", "promql/histogram_quantile", "Celery task p95", W),
        ("dashboard.json", "dashboard/rate_interval", "Celery task p95", W),
        ("dashboard.json", "dashboard/datasource", "Task retry rate", W),
        ("dashboard.json", "dashboard/rate_interval", "Task retry rate", W),
        # monitors.json: the six Datadog monitors' thresholds match their queries: nothing to report
    ],
    "seed004": [
        ("prometheusrule.yaml", "alerts/annotations", "APIDown", W),
        # OpenTelemetry's http.server.duration is a millisecond histogram
        ("prometheusrule.yaml", "naming/units", "APIDown", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighErrorRate", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighResponseTime", W),
        ("prometheusrule.yaml", "naming/units", "HighResponseTime", W),
        ("prometheusrule.yaml", "alerts/annotations", "APIErrorBudgetBurnCritical", W),
        ("prometheusrule.yaml", "alerts/annotations", "APIErrorBudgetBurnWarning", W),
        ("prometheusrule.yaml", "alerts/annotations", "WorkerOffline", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighQueueDepth", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighJobFailureRate", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighExecutionLag", W),
        ("prometheusrule.yaml", "alerts/annotations", "LowSchedulerSuccessRate", W),
        ("prometheusrule.yaml", "alerts/annotations", "SchedulerOffline", W),
        # "Scheduler offline" has no duration in the seed: absent() without `for`
        ("prometheusrule.yaml", "alerts/for", "SchedulerOffline", W),
        ("prometheusrule.yaml", "alerts/annotations", "HighConnectionPoolUsage", W),
        ("prometheusrule.yaml", "alerts/annotations", "SlowQueries", W),
    ],
}

#: the seeds' real bugs: the only error-level findings in the whole corpus
REAL_ERRORS = {
    ("seed000", "promql/vector_matching", "Job outcomes (%)"),
    ("seed001", "promql/series", "DatabaseConnectionIssue"),
    ("seed003", "promql/vector_matching", "OpenAI fingerprint presence"),
}


@pytest.mark.parametrize("seed", sorted(EXPECTED))
def test_seed_findings_one_by_one(seed: str) -> None:
    assert findings(seed) == EXPECTED[seed]


def test_only_the_real_bugs_are_errors() -> None:
    errors = {(seed, check, where) for seed in EXPECTED for _, check, where, sev in findings(seed) if sev == E}
    assert errors == REAL_ERRORS


def test_corpus_covers_every_seed_and_format() -> None:
    files = sorted(p.name for p in SEEDS.iterdir() if p.suffix in (".yml", ".yaml", ".json"))
    assert {f.split(".")[0] for f in files} == {f"seed00{i}" for i in range(5)}
    kinds = {f.split(".", 1)[1] for f in files}
    assert {"rules.yml", "dashboard.json", "monitors.json", "prometheusrule.yaml", "catalogue.yaml"} <= kinds
