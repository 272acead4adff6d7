"""examples/render_pipeline (seed 002): the spec, its lint record, and the app with real Celery worker
processes on a real Redis — every counter and histogram count matches what was sent, and the queue
collector sees a backlog when the workers are paused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
EXAMPLE = ROOT / "examples" / "render_pipeline"
SPEC = EXAMPLE / "jobpulse.yaml"
SEED_METRICS = {
    "luneo_worker_queue_wait_time_seconds": ("histogram", {"queue_name"}, (1, 5, 10, 30, 60, 120, 300, 600)),
    "luneo_worker_queue_wait_time_current_seconds": ("gauge", {"queue_name"}, None),
    "luneo_openai_request_duration_seconds": (
        "histogram",
        {"model", "operation", "status"},
        (0.1, 0.5, 1, 2, 5, 10, 30, 60),
    ),
    "luneo_openai_requests_total": ("counter", {"model", "operation"}, None),
    "luneo_openai_requests_error_total": ("counter", {"model", "operation", "error_type"}, None),
    "luneo_openai_cost_cents": ("gauge", {"model", "operation"}, None),
    "luneo_render_duration_seconds": (
        "histogram",
        {"render_type", "quality", "status"},
        (1, 5, 10, 30, 60, 120, 300, 600),
    ),
    "luneo_renders_total": ("counter", {"render_type", "quality"}, None),
    "luneo_renders_error_total": ("counter", {"render_type", "quality", "error_type"}, None),
    "luneo_embed_handshake_failures_total": ("counter", {"failure_reason", "shop_domain"}, None),
    "luneo_embed_handshakes_total": ("counter", {"status"}, None),
    "luneo_embed_handshake_duration_seconds": ("histogram", {"status"}, (0.01, 0.05, 0.1, 0.5, 1, 2)),
    "luneo_ar_conversion_duration_seconds": ("histogram", {"conversion_type", "status"}, (1, 5, 10, 30, 60, 120, 300)),
    "luneo_ar_conversions_total": ("counter", {"conversion_type"}, None),
    "luneo_ar_conversions_error_total": ("counter", {"conversion_type", "error_type"}, None),
    "luneo_ai_cost_baseline_cents": ("gauge", {"time_window"}, None),
    "luneo_ai_cost_current_cents": ("gauge", {"time_window"}, None),
}


def test_spec_has_the_seed_metrics_with_their_labels_and_buckets() -> None:
    spec = load_spec(SPEC)
    for name, (kind, labels, buckets) in SEED_METRICS.items():
        metric = spec.metrics[name]
        assert metric.type == kind, name
        assert set(metric.label_names) == labels, name
        if buckets is not None:
            assert metric.buckets == tuple(float(b) for b in buckets), name
    assert [a.name for a in spec.alerts] == ["QueueWaitTimeHigh", "ErrorRateHigh", "CostSpikeDetected"]
    assert [d.title for d in spec.dashboards] == ["Luneo Overview", "Luneo KPIs"]
    shop = spec.metrics["luneo_embed_handshake_failures_total"].label("shop_domain")
    assert shop is not None and shop.max_values == 100


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    jobpulse = Path(sys.executable).with_name("jobpulse")
    return subprocess.run([str(jobpulse), "lint", str(path)], capture_output=True, text=True, check=False)


def test_lint_is_clean_and_the_seeds_unbounded_shop_domain_would_be_reported(tmp_path: Path) -> None:
    clean = _lint(SPEC)
    assert clean.returncode == 0 and "no problems" in clean.stdout, clean.stdout + clean.stderr
    # the seed's label as the seed has it (one series per shop): lint's cardinality check reports it
    seed_form = tmp_path / "jobpulse.yaml"
    seed_form.write_text(SPEC.read_text().replace("max_values: 100\n", "max_values: 100000\n", 1))
    reported = _lint(seed_form)
    assert "warning labels/cardinality" in reported.stdout
    assert "labels/cardinality" in reported.stdout and "shop_domain" in reported.stdout


# -- the app, with real worker processes --------------------------------------------------------------
def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5.0).text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(samples: list[dict[Any, float]], name: str, **match: str) -> float:
    return sum(
        value
        for scraped in samples
        for (sample, labels), value in scraped.items()
        if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def pipeline(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    example = load_example(EXAMPLE)
    app = example.create_app(
        registry=CollectorRegistry(),
        broker_url=redis_server.url,
        workers=2,
        render_time_scale=0.05,
        queue_interval=0.2,
        workdir=tmp_path / "pipeline",
        seed=7,
    )
    with serve(app, shutdown_timeout=40) as url:
        yield url, app


@pytest.mark.integration
def test_worker_processes_record_every_task_and_the_collector_sees_the_backlog(
    pipeline: tuple[str, Any],
) -> None:
    url, app = pipeline
    workers = httpx.get(f"{url}/api/workers").json()
    assert len(workers) == 2 and all(w["alive"] and w["ready"] for w in workers)
    assert len({w["pid"] for w in workers} | {os.getpid()}) == 3, "workers are separate processes"
    renders = [("product_2d", "standard")] * 3 + [("product_3d", "hd")] * 2 + [("thumbnail", "draft")]
    for render_type, quality in renders:
        response = httpx.post(f"{url}/api/renders", json={"render_type": render_type, "quality": quality})
        assert response.status_code == 202
    for conversion in ("glb_to_usdz", "glb_to_usdz", "usdz_to_glb"):
        assert httpx.post(f"{url}/api/ar/convert", json={"conversion_type": conversion}).status_code == 202
    shop = "shop-1.myshopify.com"
    for token in ("tok_0123456789abcdef", "tok_fedcba9876543210", "forged"):
        httpx.post(f"{url}/api/widget/handshake", json={"shop_domain": shop, "token": token})

    def worker_samples() -> list[dict[Any, float]]:
        return [scrape(f"{url}/metrics/workers")]  # every worker process, merged

    wait_until(
        lambda: (
            total(worker_samples(), "luneo_render_duration_seconds_count") == 6
            and total(worker_samples(), "luneo_ar_conversion_duration_seconds_count") == 3
            # the task's error counter is incremented just after its duration is observed
            and total(worker_samples(), "luneo_renders_error_total")
            == total(worker_samples(), "luneo_render_duration_seconds_count", status="error")
            # the workers refresh the cost window's gauge every 0.5 s
            and total(worker_samples(), "luneo_ai_cost_current_cents", time_window="1h")
            == pytest.approx(total(worker_samples(), "luneo_openai_cost_cents"))
        ),
        what="6 renders and 3 conversions finished in the workers",
    )
    samples = worker_samples()
    assert total(samples, "luneo_renders_total", render_type="product_2d", quality="standard") == 3
    assert total(samples, "luneo_renders_total", render_type="product_3d", quality="hd") == 2
    assert total(samples, "luneo_renders_total") == 6
    # issue 17: the workers never set the web process's Redis gauge, so they do not export it (a 0 there made the
    # "Redis availability" panel, min(jobpulse_redis_up), say Redis was down)
    assert not [key for key in samples[0] if key[0] == "jobpulse_redis_up"]
    assert total(samples, "luneo_ar_conversions_total", conversion_type="glb_to_usdz") == 2
    assert total(samples, "luneo_worker_queue_wait_time_seconds_count", queue_name="renders") == 6
    assert total(samples, "luneo_worker_queue_wait_time_seconds_count", queue_name="ar_conversions") == 3
    # every render asks for a prompt enhancement first; the image only after a successful one
    assert total(samples, "luneo_openai_requests_total", model="gpt-4o-mini") == 6
    enhance_errors = total(samples, "luneo_openai_requests_error_total", model="gpt-4o-mini")
    assert total(samples, "luneo_openai_requests_total", model="dall-e-3") == 6 - enhance_errors
    assert total(samples, "luneo_openai_cost_cents") > 0
    assert total(samples, "luneo_ai_cost_current_cents", time_window="1h") == pytest.approx(
        total(samples, "luneo_openai_cost_cents")
    )
    web = scrape(f"{url}/metrics")
    assert total([web], "luneo_embed_handshakes_total", status="success") == 2
    assert (
        total([web], "luneo_embed_handshake_failures_total", failure_reason="invalid_signature", shop_domain=shop) == 1
    )
    wait_until(lambda: total([scrape(f"{url}/metrics")], "jobpulse_queue_depth") == 0, what="empty queues")

    # pause the workers: tasks pile up, and the collector reports the depth and the oldest task's age
    pids = [w["pid"] for w in workers]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(4):
            assert httpx.post(f"{url}/api/renders", json={"render_type": "thumbnail"}).status_code == 202
        time.sleep(1.5)
        # a stopped worker's BRPOP, sent before the pause, still takes a message (into its socket buffer):
        # at least 4 - 2 tasks wait in the list
        wait_until(
            lambda: total([scrape(f"{url}/metrics")], "jobpulse_queue_depth", queue_name="renders") >= 2,
            what="the backlog in the list",
        )
        web = scrape(f"{url}/metrics")
        assert 2 <= total([web], "jobpulse_queue_depth", queue_name="renders") <= 4
        age = total([web], "luneo_worker_queue_wait_time_current_seconds", queue_name="renders")
        assert 1.2 <= age < 30
        assert total([web], "luneo_worker_queue_wait_time_current_seconds", queue_name="ar_conversions") == 0
        assert total([web], "jobpulse_redis_up") == 1
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_until(lambda: total(worker_samples(), "luneo_render_duration_seconds_count") == 10, what="the backlog drained")
    assert total(worker_samples(), "luneo_worker_queue_wait_time_seconds_bucket", le="1.0") < 10, (
        "the paused tasks waited over a second"
    )
    wait_until(lambda: total([scrape(f"{url}/metrics")], "jobpulse_queue_depth") == 0, what="empty queues again")
    assert app.state.pipeline.queue_state.last_error is None
