"""examples/prompt_rollout (seed 003): the spec keeps the seed's metrics and PromQL, the app (real Redis,
real Celery worker, real database) records what it served, and every PromQL query of the seed returns data
from the demo's Prometheus scraping the running app."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from jobpulse.demo.example import load_example
from jobpulse.spec.load import load_spec
from jobpulse.verify.datastores import RedisServer
from tests.datastores_fixtures import serve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prompt_rollout"
SPEC = EXAMPLE / "jobpulse.yaml"
#: the seed's Grafana variables, as the test sets them
VARIABLES = {"$env": "prod", "$service": "prompter-api"}

#: every PromQL query of seed 003, as written (its "Metrics Tracked" blocks)
SEED_QUERIES = {
    "Request rate": 'rate(starlette_requests_total{env="$env",service="$service"}[5m])',
    "4xx rate": 'rate(starlette_requests_total{env="$env",status=~"4.."}[5m])',
    "5xx rate": 'rate(starlette_requests_total{env="$env",status=~"5.."}[5m])',
    "Latency p95": """histogram_quantile(0.95,
  rate(starlette_requests_processing_seconds_bucket{env="$env"}[5m])
)""",
    "Probe attempts": 'rate(prompter_probe_attempts_total{env="$env"}[5m])',
    "Probe failures": 'rate(prompter_probe_failures_total{env="$env"}[5m])',
    "Probe failure rate": """100 * (
  rate(prompter_probe_failures_total[5m]) /
  rate(prompter_probe_attempts_total[5m])
)""",
    "Ensure-version p95": """histogram_quantile(0.95,
  rate(prompter_ensure_version_seconds_bucket{env="$env"}[5m])
)""",
    "Version cache hit rate": """rate(prompter_version_cache_hits_total[5m]) /
rate(prompter_version_lookups_total[5m])""",
    "Unique violations": 'rate(prompter_db_unique_violation_total{env="$env"}[5m])',
    "Result insertions": 'rate(prompter_prompt_results_insert_total{env="$env"}[5m])',
    "OpenAI fingerprint presence": """rate(prompter_openai_fingerprint_present_total[5m]) /
rate(prompter_prompt_results_insert_total[5m])""",
    "Redis availability": 'prompter_redis_up{env="$env"}',
    "Celery task p95": """histogram_quantile(0.95,
  rate(celery_task_runtime_seconds_bucket{queue="prompter"}[5m])
)""",
    "Task retry rate": 'rate(celery_task_retries_total{queue="prompter"}[5m])',
}
#: the labels of the seed's own prometheus_client code (probes, ensure-version, Redis) and of its queries
SEED_LABELS = {
    "prompter_probe_attempts_total": {"provider", "env"},
    "prompter_probe_failures_total": {"provider", "env"},
    "prompter_ensure_version_seconds": {"env"},
    "prompter_redis_up": {"env"},
    "starlette_requests_total": {"env", "service", "route", "status"},
    "starlette_requests_processing_seconds": {"env", "service", "route"},
    "celery_task_runtime_seconds": {"queue"},
    "celery_task_retries_total": {"queue"},
}


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_spec_keeps_the_seed_promql_and_labels() -> None:
    spec = load_spec(SPEC)
    [dashboard] = spec.dashboards
    panels = {p.title: p.targets[0].expr for p in dashboard.panels}
    assert {title: squash(expr) for title, expr in panels.items()} == {
        title: squash(query) for title, query in SEED_QUERIES.items()
    }
    assert [v.name for v in dashboard.variables] == ["env", "service"]
    rows = list(dict.fromkeys(p.row for p in dashboard.panels))
    assert rows == ["API Health", "Provider Probes", "Version Management", "Database Operations", "Infrastructure"]
    for name, labels in SEED_LABELS.items():
        assert set(spec.metrics[name].label_names) == labels, name
    assert [(a.severity, a.name) for a in spec.alerts] == [
        ("critical", "PrompterApi5xxRateCritical"),
        ("critical", "PrompterRedisDown"),
        ("critical", "PrompterProbeFailureRateHigh"),
        ("warning", "PrompterApi5xxRateElevated"),
        ("warning", "PrompterEnsureVersionSlow"),
        ("warning", "PrompterUniqueViolationsSpike"),
    ]


def test_lint_is_clean_and_a_drifted_datadog_threshold_would_be_reported(tmp_path: Path) -> None:
    jobpulse = Path(sys.executable).with_name("jobpulse")

    def lint(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(jobpulse), "lint", str(path)], capture_output=True, text=True, check=False)

    clean = lint(SPEC)
    assert clean.returncode == 0 and "no problems" in clean.stdout, clean.stdout + clean.stderr
    drifted = tmp_path / "jobpulse.yaml"
    drifted.write_text(SPEC.read_text().replace(".as_count() > 100", ".as_count() > 150"))
    reported = lint(drifted)
    assert reported.returncode == 1
    assert "datadog/agreement" in reported.stdout and "the Datadog threshold is 150" in reported.stdout


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5.0).text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(samples: dict[Any, float], name: str, **match: str) -> float:
    return sum(
        value
        for (sample, labels), value in samples.items()
        if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


@pytest.mark.parametrize("share", [0.001, 0.08, 0.10, 1 / 3])
def test_the_provider_fails_its_share_of_calls_evenly_spread(share: float) -> None:
    from examples.prompt_rollout.app import provider_fails

    failed = [call for call in range(1, 10_001) if provider_fails(call, share)]
    # exactly the share of every prefix, rounded down: no run of calls holds more failures than its length says
    for calls in (1, 999, 1000, 1001, 2500, 10_000):
        assert sum(1 for call in failed if call <= calls) == int(calls * share + 1e-9), calls
    gaps = {b - a for a, b in itertools.pairwise(failed)}
    assert gaps <= {int(1 / share), int(1 / share) + 1}, gaps


def test_a_good_canarys_provider_fails_nothing_in_its_first_phase_and_a_healthy_one_never() -> None:
    from examples.prompt_rollout.app import provider_fails

    # seed 003's v6 (0.1 %) after its warm-up of 150 prompts: nothing fails in the 5 % phase
    assert not any(provider_fails(call, 0.001) for call in range(151, 999))
    assert not any(provider_fails(call, 0.0) for call in range(1, 10_001))


@pytest.mark.integration
def test_the_app_counts_what_it_served(redis_server: RedisServer, tmp_path: Path) -> None:
    example = load_example(EXAMPLE)
    app = example.create_app(
        registry=CollectorRegistry(),
        broker_url=redis_server.url,
        workdir=tmp_path / "prompter",
        probe_interval=0.2,
        queue_interval=0.3,
        time_scale=0.1,
        seed=5,
    )
    assert example.run_workload is not None
    with serve(app, shutdown_timeout=30) as url:
        stats = asyncio.run(
            example.run_workload(url, stop=asyncio.Event(), rate_per_second=40, seed=2, max_requests=120)
        )
        assert stats.errors == 0 and stats.created > 0 and stats.deduplicated > 0 and stats.client_errors > 0
        # the scoring tasks run on the in-process Celery worker (real Redis broker)
        deadline = time.monotonic() + 120  # generous: the suite runs on a loaded 2-core machine
        samples = scrape(f"{url}/metrics")
        while total(samples, "celery_task_runtime_seconds_count", queue="prompter") < stats.created:
            assert time.monotonic() < deadline, "the Celery worker did not run every scoring task"
            time.sleep(0.1)
            samples = scrape(f"{url}/metrics")
    created, dedup = stats.created, stats.deduplicated
    assert total(samples, "starlette_requests_total", status="201", env="prod", service="prompter-api") == created
    assert total(samples, "starlette_requests_total", status="200", route="/v1/prompts") == dedup
    assert total(samples, "prompter_prompt_results_insert_total", env="prod") == created
    assert total(samples, "prompter_db_unique_violation_total", env="prod") == dedup
    assert total(samples, "prompter_version_lookups_total") == created + dedup + stats.provider_errors
    assert total(samples, "celery_task_runtime_seconds_count", queue="prompter") == created
    assert total(samples, "prompter_redis_up", env="prod") == 1
    assert total(samples, "prompter_probe_attempts_total", provider="openai") > 0
    assert total(samples, "starlette_requests_processing_seconds_count", route="/v1/results/{result_id}") > 0


@pytest.mark.integration
def test_two_tracks_in_one_process_each_run_their_own_scoring_tasks(redis_server: RedisServer, tmp_path: Path) -> None:
    """``jobpulse demo --scenario bad-canary`` serves the baseline and the canary in one process, each with its own
    Celery app and embedded worker: each worker runs its own app's tasks, counted in its own registry (Celery
    looks a task up in the process's current app, the last one that started a worker, unless the pool says
    otherwise)."""
    example = load_example(EXAMPLE)
    base = redis_server.url.rsplit("/", 1)[0]
    registries = {track: CollectorRegistry() for track in ("baseline", "canary")}
    apps = {
        track: example.create_app(
            registry=registries[track],
            broker_url=f"{base}/{n + 1}",  # a Redis database each: their own queue
            workdir=tmp_path / track,
            scenario="good-canary",
            track=track,
            queue_interval=0.3,
            time_scale=0.1,
            seed=n,
        )
        for n, track in enumerate(registries)
    }
    warm_up = example.workload_module.warm_up
    with serve(apps["baseline"], shutdown_timeout=30) as baseline, serve(apps["canary"], shutdown_timeout=30) as canary:
        urls = {"baseline": baseline, "canary": canary}
        for url in urls.values():
            assert asyncio.run(warm_up(url)) == 150
        deadline = time.monotonic() + 120
        while True:
            samples = {track: scrape(f"{url}/metrics") for track, url in urls.items()}
            inserted = {track: total(s, "prompter_prompt_results_insert_total") for track, s in samples.items()}
            ran = {
                track: total(s, "celery_task_runtime_seconds_count", queue="prompter") for track, s in samples.items()
            }
            if ran == inserted or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert inserted["baseline"] > 100 and inserted["canary"] > 100, inserted
    assert ran == inserted, f"scoring tasks run per track: {ran}; inserted (one task each): {inserted}"


@pytest.mark.integration
def test_every_seed_query_returns_data_from_the_demos_prometheus(
    redis_server: RedisServer, prometheus_bin: str, tmp_path: Path
) -> None:
    asyncio.run(_seed_queries(redis_server, tmp_path))


async def _seed_queries(redis_server: RedisServer, tmp_path: Path) -> None:
    from jobpulse.compile import compile_spec
    from jobpulse.demo.monitoring import start_monitoring
    from jobpulse.demo.server import AppServer
    from jobpulse.render.files import write_build

    example = load_example(EXAMPLE)
    build = compile_spec(load_spec(SPEC))
    write_build(build, tmp_path / "build")
    app = example.create_app(
        registry=CollectorRegistry(),
        broker_url=redis_server.url,
        workdir=tmp_path / "prompter",
        scenario="failure-spike",  # some 5xx and retries, so the seed's error and retry panels have data
        probe_interval=0.2,
        queue_interval=0.5,
        time_scale=0.1,
        seed=11,
    )
    server = await AppServer(app).start()
    stop = asyncio.Event()
    assert example.run_workload is not None
    workload = asyncio.ensure_future(example.run_workload(server.url, stop=stop, rate_per_second=30, seed=3))
    monitoring = await asyncio.to_thread(
        start_monitoring,
        rule_file=tmp_path / "build" / build.rule_file,
        job_name="prompter-api",
        target=server.url.removeprefix("http://"),
        workdir=tmp_path / "demo",
        interval="1s",
    )
    prometheus = monitoring.prometheus
    try:
        assert prometheus is not None, monitoring.notes

        def answered(query: str) -> list[dict[str, Any]]:
            return [r for r in prometheus.query(query) if r["value"][1] not in ("NaN", "+Inf", "-Inf")]

        for name, query in SEED_QUERIES.items():
            for variable, value in VARIABLES.items():
                query = query.replace(variable, value)
            try:
                result = await asyncio.to_thread(prometheus.wait_for, lambda q=query: answered(q), 60.0, 0.5)
            except TimeoutError:
                pytest.fail(f"the seed's {name!r} query returned no data\n{prometheus.log_tail()}")
            values = [float(r["value"][1]) for r in result]
            assert all(v >= 0 for v in values), (name, values)
            if name in ("Version cache hit rate", "OpenAI fingerprint presence", "Redis availability"):
                assert all(v <= 1 for v in values), (name, values)
    finally:
        stop.set()
        await workload
        await asyncio.to_thread(monitoring.stop)
        await server.stop()
