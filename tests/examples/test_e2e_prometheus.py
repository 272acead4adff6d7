"""End to end: the example app under traffic, scraped by a real Prometheus with the generated rules.

Every dashboard panel's query (read from the spec, i.e. the seed's PromQL) must return data, and
the three alert rules must be loaded. Traffic is driven once per module; the tests then look at
what Prometheus answered.

Known problem (left in the spec, which reproduces the seed unchanged): the "Job outcomes (%)" query
divides ``sum by (outcome) (...)`` by ``sum (...)`` with one-to-one matching, and ``{outcome="ready"}``
never matches ``{}`` — Prometheus returns nothing. The test for that panel is a strict xfail, so it
turns red once the spec is fixed (``... / ignoring(outcome) group_left sum (...)``, checked below).
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from jobpulse.compile import compile_spec
from jobpulse.demo.example import Example, load_example
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Spec
from jobpulse.verify.servers import PrometheusServer, prometheus_config, scrape_config

pytestmark = pytest.mark.integration

PREVIEW = Path(__file__).resolve().parents[2] / "examples" / "preview_jobs"
ALERTS = {"PreviewGenerationHighFailureRate", "PreviewGenerationSlow", "PreviewQueueStalled"}


OUTCOMES_PANEL = "Job outcomes (%)"
#: The seed's outcomes query with the vector matching it needs.
OUTCOMES_FIXED = (
    "100 * sum by (outcome) (rate(preview_generation_jobs_completed_total[15m]))"
    " / ignoring(outcome) group_left sum (rate(preview_generation_jobs_completed_total[15m]))"
)


@pytest.fixture(scope="module")
def example() -> Example:
    return load_example(PREVIEW)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(PREVIEW / "jobpulse.yaml")


@pytest.fixture(scope="module")
def app_url(example: Example, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app (worker backend) served by uvicorn on a free loopback port, in a background thread."""
    app = example.create_app(
        registry=CollectorRegistry(),
        backend="worker",
        preview_dir=tmp_path_factory.mktemp("previews"),
        render_time_scale=0.5,
        fail_rate=0.2,
        rng=random.Random(1),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str, spec: Spec, app_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    result = compile_spec(spec)
    build = tmp_path_factory.mktemp("build")
    write_build(result, build)
    config = prometheus_config(
        scrape_configs=[scrape_config(spec.service.name, app_url, interval="1s")],
        evaluation_interval="1s",
    )
    server = PrometheusServer(
        config=config,
        rule_files=[build / result.rule_file],
        workdir=tmp_path_factory.mktemp("prometheus"),
        binary=prometheus_bin,
    )
    with server:
        yield server


def _finite(result: list[dict[str, Any]]) -> bool:
    return bool(result) and all(math.isfinite(float(series["value"][1])) for series in result)


@dataclass
class Traffic:
    results: dict[str, list[dict[str, Any]]]  # query -> Prometheus result
    stats: Any
    timed_out: bool
    detail: str


@pytest.fixture(scope="module")
def traffic(example: Example, spec: Spec, app_url: str, prometheus: PrometheusServer) -> Traffic:
    """Drive the app until every query that should work has data (at most ~35 s)."""
    panels = [panel.targets[0].expr for panel in spec.dashboards[0].panels]
    every_target = [t.expr for panel in spec.dashboards[0].panels for t in panel.targets]
    gating = [
        expr for panel, expr in zip(spec.dashboards[0].panels, panels, strict=True) if panel.title != OUTCOMES_PANEL
    ]
    queries = list(dict.fromkeys([*every_target, OUTCOMES_FIXED]))
    results: dict[str, list[dict[str, Any]]] = {}
    outcome: dict[str, Any] = {"timed_out": False}
    run_workload = example.run_workload
    assert run_workload is not None

    def query_all() -> dict[str, list[dict[str, Any]]]:
        return {expr: prometheus.query(expr) for expr in queries}

    async def drive() -> None:
        stop = anyio.Event()

        async def watch() -> None:
            # Prometheus 2.42 scrapes ~5.5 s after start, and rate() needs two samples
            deadline = anyio.current_time() + 35
            try:
                while anyio.current_time() < deadline:
                    await anyio.sleep(1)
                    results.update(await anyio.to_thread.run_sync(query_all))
                    if all(_finite(results[expr]) for expr in [*gating, OUTCOMES_FIXED]):
                        return
                outcome["timed_out"] = True
            finally:
                stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            outcome["stats"] = await run_workload(app_url, stop=stop, rate_per_second=10.0)

    anyio.run(drive)
    detail = f"results: {results}\n--- {prometheus.log_path} ---\n{prometheus.log_tail()}"
    return Traffic(results, outcome["stats"], outcome["timed_out"], detail)


def test_traffic_reached_prometheus(traffic: Traffic) -> None:
    assert not traffic.timed_out, traffic.detail
    assert traffic.stats.errors == 0
    assert traffic.stats.created > 0 and traffic.stats.ready > 0


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(0, id="jobs-per-minute"),
        pytest.param(
            1,
            id="job-outcomes",
            marks=pytest.mark.xfail(
                strict=True,
                reason="seed PromQL: {outcome=...} / {} without ignoring(outcome) group_left matches nothing",
            ),
        ),
        pytest.param(2, id="queue-depth"),
        pytest.param(3, id="p95"),
    ],
)
def test_panel_query_returns_finite_data(spec: Spec, traffic: Traffic, index: int) -> None:
    panel = spec.dashboards[0].panels[index]
    result = traffic.results[panel.targets[0].expr]
    assert _finite(result), f"{panel.title}: {result}\n{traffic.detail}"
    labels = {key for series in result for key in series["metric"]}
    if panel.title == "Preview jobs per minute":
        assert {s["metric"]["scenario"] for s in result} <= {"blog-post", "landing-page", "docs-site"}
    elif panel.title == OUTCOMES_PANEL:
        assert labels == {"outcome"}
    elif panel.title == "Preview queue depth":
        assert {s["metric"]["backend"] for s in result} == {"worker"}
    else:
        assert float(result[0]["value"][1]) > 0


def test_every_panel_shows_data(spec: Spec, traffic: Traffic) -> None:
    """Each panel has a query that returns data (the outcomes panel through its corrected query B)."""
    for panel in spec.dashboards[0].panels:
        assert any(_finite(traffic.results[t.expr]) for t in panel.targets), f"{panel.title}\n{traffic.detail}"
    outcomes = next(p for p in spec.dashboards[0].panels if p.title == OUTCOMES_PANEL)
    assert outcomes.targets[1].expr == OUTCOMES_FIXED


def test_outcomes_query_with_vector_matching_returns_data(traffic: Traffic) -> None:
    result = traffic.results[OUTCOMES_FIXED]
    assert _finite(result), traffic.detail
    shares = {s["metric"]["outcome"]: float(s["value"][1]) for s in result}
    assert set(shares) == {"ready", "failed"}
    assert sum(shares.values()) == pytest.approx(100.0)


def test_alert_rules_are_loaded(spec: Spec, prometheus: PrometheusServer, traffic: Traffic) -> None:
    rules = [rule for group in prometheus.rules() for rule in group["rules"]]
    alerting = {rule["name"] for rule in rules if rule["type"] == "alerting"}
    # the seed's three alerts (and whatever else the spec declares) from the generated rule file
    assert alerting >= ALERTS
    assert {alert.name for alert in spec.alerts} <= alerting
    assert all(rule.get("health") != "err" for rule in rules), [r for r in rules if r.get("health") == "err"]
