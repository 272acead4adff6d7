"""One fault scenario through Prometheus and through VictoriaMetrics + vmalert, into one real Alertmanager.

The workload (tests/fixtures/tsdb/jobpulse.yaml's job lifecycle) runs healthy, then half of its jobs fail,
then its /metrics goes away. Both stacks scrape it with the build's scrape configuration and evaluate the
build's rule file. The same alerts must reach Alertmanager from both, in the same phases, with detection
times within TOLERANCE of each other (measured: vmalert 0.3 to 2.3 s later; docs/scaling.md has the numbers,
and those with VictoriaMetrics' default 30 s latency offset). The queries' values on both stores are compared too.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from jobpulse.verify.tsdb_compare import (
    Comparison,
    Phase,
    first_increment,
    run_comparison,
    staleness_without_markers,
)
from tests.conftest import need_binary

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "tsdb" / "jobpulse.yaml"
#: how much later (or earlier) an alert may reach Alertmanager from vmalert than from Prometheus; rules and
#: scrapes run every second, and VictoriaMetrics runs with -search.latencyOffset=1s
TOLERANCE = 5.0
PHASES = [Phase("healthy", 15, 0.02), Phase("failing", 30, 0.5), Phase("outage", 20, 0.5, serving=False)]
RATE = "sum(rate(work_jobs_done_total[20s]))"
ABSENT = 'absent(work_jobs_done_total{job="cmp"})'

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    for name in ("prometheus", "alertmanager", "victoria-metrics", "vmagent", "vmalert"):
        need_binary(name)
    return run_comparison(
        SPEC,
        tmp_path_factory.mktemp("compare"),
        job="work",
        phases=PHASES,
        queries=[RATE, ABSENT],
        latency_offset="1s",
    )


def test_no_alert_while_healthy(comparison: Comparison) -> None:
    # while the stacks start, absent() may fire before the first samples are visible (vmalert especially:
    # scrape, remote write and the latency offset come first); the scenario begins once those resolved
    for ruler in ("prometheus", "vmalert"):
        assert comparison.startup[ruler] <= {"JobMetricsAbsent"}, ruler
    failing = comparison.phase_started["failing"]
    for ruler in ("prometheus", "vmalert"):
        early = {name: times for name, times in comparison.arrivals[ruler].items() if times[0] < failing}
        assert early == {}, ruler


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("failing", {"JobsFailing", "JobsFailingIncrease"}), ("outage", {"TargetDown", "JobMetricsAbsent"})],
)
def test_the_same_alerts_fire_with_detection_times_within_tolerance(
    comparison: Comparison, phase: str, expected: set[str]
) -> None:
    assert comparison.fired("prometheus", phase) == comparison.fired("vmalert", phase)
    assert expected <= comparison.fired("prometheus", phase)
    for alert in expected:
        prometheus = comparison.detection("prometheus", alert, phase)
        victoria = comparison.detection("vmalert", alert, phase)
        assert prometheus is not None and victoria is not None, alert
        assert abs(victoria - prometheus) <= TOLERANCE, (alert, prometheus, victoria)


def test_both_stores_agree_on_a_full_window_rate_and_on_staleness(comparison: Comparison) -> None:
    failing, outage = comparison.phase_started["failing"], comparison.phase_started["outage"]
    # a 20 s window wholly inside the failing phase (before the outage)
    full = [(p, v) for t, p, v in comparison.samples[RATE] if failing + 21 < t < outage and None not in (p, v)]
    assert full, "no rate samples from both stores"
    assert statistics.mean(v for _, v in full) == pytest.approx(statistics.mean(p for p, _ in full), rel=0.02)
    # the scrape that fails writes staleness markers in both (vmagent sends them too): absent() turns 1 at once
    first = {}
    for index, store in ((1, "prometheus"), (2, "victoria-metrics")):
        first[store] = next(row[0] for row in comparison.samples[ABSENT] if row[0] >= outage and row[index] == 1.0)
    assert all(seconds - outage <= 4 for seconds in first.values()), first


def test_without_staleness_markers_vmalert_sees_a_series_as_long_as_prometheus(tmp_path: Path) -> None:
    """A series that stops without a staleness marker: Prometheus' 5-minute lookback; VictoriaMetrics looks back
    vmalert's query step (5m by default), or about 1.5 scrape intervals with a step of one interval."""
    for name in ("prometheus", "promtool", "victoria-metrics"):
        need_binary(name)
    found = staleness_without_markers(tmp_path, interval=15)
    assert found["prometheus"] == pytest.approx(300, abs=2)
    assert found["victoria-metrics step=5m"] == pytest.approx(300, abs=2)
    seconds = found["victoria-metrics step=15s"]
    assert seconds is not None and 15 <= seconds <= 45


def test_metricsql_counts_the_first_increment_of_a_new_counter(tmp_path: Path) -> None:
    """A counter series that appears at 1: Prometheus' increase() sees nothing, MetricsQL's sees the 1."""
    for name in ("prometheus", "promtool", "victoria-metrics"):
        need_binary(name)
    assert first_increment(tmp_path) == {"prometheus": 0.0, "victoria-metrics": 1.0}
