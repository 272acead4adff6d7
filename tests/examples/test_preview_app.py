"""The preview-jobs example app: its metrics equal what was done, with both backends."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry

from jobpulse import testing
from jobpulse.demo.example import load_example

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/developers/preview-jobs"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def modules() -> tuple[ModuleType, ModuleType]:
    example = load_example(ROOT / "examples" / "preview_jobs")
    assert example.workload_module is not None
    return example.app_module, example.workload_module


@pytest.fixture
def app_module(modules: tuple[ModuleType, ModuleType]) -> ModuleType:
    return modules[0]


def make_app(app_module: ModuleType, tmp_path: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "registry": CollectorRegistry(),
        "preview_dir": tmp_path / "previews",
        "render_time_scale": 0.02,  # 1-6 ms renders
        "fail_rate": 0.0,
        "rng": random.Random(7),
    }
    options.update(kwargs)
    return app_module.create_app(**options)


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (workers) running, and a client talking to it in-process."""
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def sample(app: Any, name: str, **labels: str) -> float:
    return testing.sample(app.state.registry, name, **labels) or 0.0


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def fail_broken(job: Any) -> bool:
    return bool(job.scenario == "broken")


PLAN = ["blog-post"] * 4 + ["docs-site"] * 3 + ["broken"] * 3  # 10 jobs, 3 fail


@pytest.mark.parametrize("backend", ["worker", "inline"])
async def test_metrics_equal_what_was_done(app_module: ModuleType, tmp_path: Path, backend: str) -> None:
    app = make_app(app_module, tmp_path, backend=backend)
    app.state.faults.fail_hook = fail_broken
    service = app.state.service
    async with running(app) as client:
        ids = []
        for scenario in PLAN:
            response = await client.post(API, json={"scenario": scenario})
            body = response.json()
            if backend == "worker":
                assert response.status_code == 202
                assert body["status"] == "queued"
            else:
                assert response.status_code == (500 if scenario == "broken" else 200)
                assert body["status"] == ("failed" if scenario == "broken" else "ready")
            assert response.headers["location"] == f"{API}/{body['job_id']}"
            ids.append(body["job_id"])
        assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)  # uuid4 hex
        await eventually(lambda: all(j.status in ("ready", "failed") for j in service.jobs.values()))

        statuses = [(await client.get(f"{API}/{job_id}")).json() for job_id in ids]
    assert [s["status"] for s in statuses] == ["ready"] * 7 + ["failed"] * 3
    assert all(s["attempts"] == 1 for s in statuses)

    assert sample(app, "preview_generation_jobs_total", scenario="blog-post", backend=backend) == 4
    assert sample(app, "preview_generation_jobs_total", scenario="docs-site", backend=backend) == 3
    assert sample(app, "preview_generation_jobs_total", scenario="broken", backend=backend) == 3
    assert sample(app, "preview_generation_jobs_completed_total", outcome="ready") == 7
    assert sample(app, "preview_generation_jobs_completed_total", outcome="failed") == 3
    assert sample(app, "preview_generation_job_duration_ms_count", outcome="ready") == 7
    assert sample(app, "preview_generation_job_duration_ms_count", outcome="failed") == 3
    assert sample(app, "preview_generation_job_duration_ms_sum", outcome="ready") > 0
    assert sample(app, "preview_generation_queue_depth", backend=backend) == 0

    # every ready job has its preview file, served under its preview_url
    ready = [s for s in statuses if s["status"] == "ready"]
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == sorted(f"{s['job_id']}.svg" for s in ready)
    async with running(app) as client:
        preview = await client.get(ready[0]["preview_url"])
    assert preview.status_code == 200 and ready[0]["job_id"] in preview.text


@pytest.mark.parametrize("backend", ["worker", "inline"])
async def test_refresh_counts_a_new_attempt(app_module: ModuleType, tmp_path: Path, backend: str) -> None:
    app = make_app(app_module, tmp_path, backend=backend)
    app.state.faults.fail_hook = fail_broken
    service = app.state.service
    async with running(app) as client:
        job_id = (await client.post(API, json={"scenario": "broken"})).json()["job_id"]
        await eventually(lambda: service.jobs[job_id].status == "failed")
        assert sample(app, "preview_generation_jobs_total", scenario="broken", backend=backend) == 1

        app.state.faults.fail_hook = None  # the renderer is fixed; the refresh succeeds
        response = await client.post(f"{API}/{job_id}/refresh")
        assert response.status_code == (202 if backend == "worker" else 200)
        assert response.json()["attempts"] == 2
        await eventually(lambda: service.jobs[job_id].status == "ready")
        body = (await client.get(f"{API}/{job_id}")).json()

    assert body["attempts"] == 2 and body["preview_url"].endswith(f"/{job_id}.svg")
    assert sample(app, "preview_generation_jobs_total", scenario="broken", backend=backend) == 2
    assert sample(app, "preview_generation_jobs_completed_total", outcome="failed") == 1
    assert sample(app, "preview_generation_jobs_completed_total", outcome="ready") == 1
    assert sample(app, "preview_generation_job_duration_ms_count", outcome="ready") == 1
    assert sample(app, "preview_generation_queue_depth", backend=backend) == 0


async def test_refresh_of_a_running_job_abandons_the_attempt(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, render_time_scale=1.0, workers=1)
    app.state.faults.render_seconds = lambda: 0.3
    service = app.state.service
    async with running(app) as client:
        job_id = (await client.post(API, json={"scenario": "blog-post"})).json()["job_id"]
        await eventually(lambda: service.jobs[job_id].status == "running")
        response = await client.post(f"{API}/{job_id}/refresh")
        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        await eventually(lambda: service.jobs[job_id].status == "ready")
        await anyio.sleep(0.05)
    # two attempts counted, one completion: the first attempt's result was discarded
    assert sample(app, "preview_generation_jobs_total", scenario="blog-post", backend="worker") == 2
    assert sample(app, "preview_generation_jobs_completed_total", outcome="ready") == 1
    assert sample(app, "preview_generation_queue_depth", backend="worker") == 0


async def test_inline_refresh_while_rendering_is_a_conflict(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, backend="inline")
    app.state.faults.render_seconds = lambda: 0.3
    service = app.state.service
    async with running(app) as client, anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(client.post, API, json={"scenario": "blog-post"}))
        await eventually(lambda: any(j.status == "running" for j in service.jobs.values()))
        (job_id,) = service.jobs
        assert (await client.post(f"{API}/{job_id}/refresh")).status_code == 409
    assert service.jobs[job_id].status == "ready"
    assert sample(app, "preview_generation_jobs_total", scenario="blog-post", backend="inline") == 1


async def test_unknown_ids_and_bad_requests(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path)
    async with running(app) as client:
        assert (await client.post(f"{API}/{'0' * 32}/refresh")).status_code == 404
        assert (await client.get(f"{API}/nope")).status_code == 404
        assert (await client.post(API, content=b"{not json")).status_code == 400
        assert (await client.post(API, json=["x"])).status_code == 400
        assert (await client.post(API, json={"scenario": "a b"})).status_code == 422
        assert (await client.post(API, json={"scenario": "x" * 65})).status_code == 422
        assert (await client.post(API, json={"scenario": 3})).status_code == 422
        # no body: the default scenario
        assert (await client.post(API)).status_code == 202
        health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["backend"] == "worker" and health["workers_alive"] == 2
    assert sample(app, "preview_generation_jobs_total", scenario="default", backend="worker") == 1


async def test_stall_grows_the_queue_then_drains(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, scenario="stall")
    service = app.state.service
    async with running(app) as client:
        for _ in range(12):
            assert (await client.post(API, json={"scenario": "landing-page"})).status_code == 202
        await anyio.sleep(0.2)  # the workers hold a job each but start none
        assert sample(app, "preview_generation_queue_depth", backend="worker") == 12
        assert service.queued == 12
        assert sample(app, "preview_generation_jobs_completed_total", outcome="ready") == 0

        app.state.faults.scenario = "healthy"
        await eventually(lambda: sample(app, "preview_generation_jobs_completed_total", outcome="ready") == 12)
    assert sample(app, "preview_generation_queue_depth", backend="worker") == 0


async def test_stop_leaves_queued_jobs_counted(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, scenario="stall")
    async with running(app) as client:
        for _ in range(3):
            await client.post(API, json={"scenario": "blog-post"})
    # lifespan ended: workers are gone, the jobs they never started are still queued
    assert app.state.service.workers_alive == 0
    assert sample(app, "preview_generation_queue_depth", backend="worker") == 3


async def test_fault_scenario_is_validated(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path)
    with pytest.raises(ValueError, match="unknown fault scenario"):
        app.state.faults.scenario = "meltdown"
    with pytest.raises(ValueError, match="unknown fault scenario"):
        make_app(app_module, tmp_path, scenario="meltdown")


async def test_scenario_label_is_bounded(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, backend="inline", render_time_scale=0.0)
    async with running(app) as client:
        for n in range(52):
            assert (await client.post(API, json={"scenario": f"s{n}"})).status_code == 200
    # the spec allows 50 distinct scenario values; the rest are counted as __other__
    assert sample(app, "preview_generation_jobs_total", scenario="s0", backend="inline") == 1
    assert sample(app, "preview_generation_jobs_total", scenario="__other__", backend="inline") == 2
    assert sample(app, "jobpulse_label_overflow_total", metric="preview_generation_jobs_total", label="scenario") == 2


@pytest.mark.parametrize("backend", ["worker", "inline"])
async def test_job_log_lines_carry_the_job_id(
    app_module: ModuleType, tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="preview_jobs")
    app = make_app(app_module, tmp_path, backend=backend)
    app.state.faults.fail_hook = fail_broken
    service = app.state.service
    async with running(app) as client:
        ok = (await client.post(API, json={"scenario": "blog-post"})).json()["job_id"]
        bad = (await client.post(API, json={"scenario": "broken"})).json()["job_id"]
        await eventually(lambda: all(service.jobs[i].status in ("ready", "failed") for i in (ok, bad)))
    formatter = app_module.JobIdFormatter()
    for job_id, final in ((ok, "preview ready"), (bad, "render failed")):
        records = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
        messages = [r.getMessage() for r in records]
        assert any("queued" in m for m in messages)
        assert any("render started" in m for m in messages)
        assert any(final in m for m in messages)
        assert all(f"job_id={job_id}" in formatter.format(r) for r in records)
    # lines outside a job still format
    assert "job_id=-" in formatter.format(logging.LogRecord("preview_jobs", 20, "x", 1, "hi", None, None))


async def test_metrics_token(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path, metrics_token="s3cret")
    async with running(app) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"authorization": "Bearer nope"})).status_code == 401
        response = await client.get("/metrics", headers={"authorization": "Bearer s3cret"})
    assert response.status_code == 200
    assert "preview_generation_queue_depth" in response.text


async def test_metrics_open_without_token(app_module: ModuleType, tmp_path: Path) -> None:
    app = make_app(app_module, tmp_path)
    async with running(app) as client:
        await client.post(API, json={"scenario": "blog-post"})
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'preview_generation_jobs_total{backend="worker",scenario="blog-post"} 1.0' in response.text


async def test_default_registry_is_fresh_and_default_preview_dir_is_cwd(
    app_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = app_module.create_app()
    second = app_module.create_app()  # a second app must not collide in a shared registry
    assert first.state.registry is not second.state.registry
    assert first.state.service.preview_dir == tmp_path / "static" / "dev-previews"


@pytest.mark.parametrize("backend", ["worker", "inline"])
async def test_workload_drives_the_api(modules: tuple[ModuleType, ModuleType], tmp_path: Path, backend: str) -> None:
    app_module, workload = modules
    app = make_app(app_module, tmp_path, backend=backend, fail_rate=0.3)
    stop = anyio.Event()
    async with running(app) as client:

        async def stop_later() -> None:
            await anyio.sleep(1.0)
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_later)
            stats = await workload.run_workload(
                "http://test", stop=stop, rate_per_second=40.0, client=client, seed=3, refresh_probability=1.0
            )
        await eventually(lambda: app.state.service.queued == 0)
        assert not client.is_closed  # the workload never closes a client it was given
    assert stats.errors == 0
    assert stats.created >= 20
    assert stats.failed > 0 and stats.refreshed > 0
    enqueued = sum(
        sample(app, "preview_generation_jobs_total", scenario=s, backend=backend)
        for s in ("blog-post", "landing-page", "docs-site")
    )
    assert enqueued == stats.created + stats.refreshed


async def test_workload_rejects_bad_rates(modules: tuple[ModuleType, ModuleType]) -> None:
    _, workload = modules
    with pytest.raises(ValueError, match="rate_per_second"):
        await workload.run_workload("http://test", stop=anyio.Event(), rate_per_second=0)
