"""Celery tasks through jobpulse's signal handlers, with a real Redis broker and real workers.

In-thread workers (threads and solo pools) share the test's registry; the prefork pool runs as a
``celery worker`` subprocess whose children write prometheus_client's multi-process files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from prometheus_client import CollectorRegistry

from jobpulse.integrations.celery import PUBLISHED_AT, REQUEST_ID, TRACEPARENT, error_class
from jobpulse.integrations.redis import sync_client
from jobpulse.runtime import context
from jobpulse.runtime.queues import QueueState
from jobpulse.testing import sample, total
from jobpulse.verify.datastores import RedisServer
from tests.fixtures.queues.celery_tasks import SEEN, make_app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return sample(registry, name, **labels) or 0.0


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def celery_setup(redis_server: RedisServer) -> Iterator[tuple[Any, Any, Any]]:
    app, telemetry, metrics = make_app(redis_server.url)
    try:
        yield app, telemetry, metrics
    finally:
        metrics.disconnect()
        app.close()


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_known_mix_of_outcomes_retries_and_delays(celery_setup: tuple[Any, Any, Any], pool: str) -> None:
    app, telemetry, metrics = celery_setup
    registry = telemetry.registry
    with start_worker(app, pool=pool, concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        for i in range(6):
            app.tasks["t.ok"].delay(i)
        for _ in range(3):
            app.tasks["t.boom"].delay()
        app.tasks["t.flaky"].apply_async(kwargs={"fail_times": 2})  # 2 retries, then success
        for _ in range(2):
            app.tasks["t.ok"].apply_async((99,), countdown=1.5)
        wait_until(lambda: total(registry, "celery_task_completed_total") == 12, what="12 finished tasks")
    q = "celery"
    # published: 6 + 3 + 1 + 2 first publishes, plus 2 retries (retries count as enqueued)
    assert value(registry, "celery_task_sent_total", task="t.ok", queue=q) == 8
    assert value(registry, "celery_task_sent_total", task="t.boom", queue=q) == 3
    assert value(registry, "celery_task_sent_total", task="t.flaky", queue=q) == 3
    assert value(registry, "celery_task_retries_total", task="t.flaky", queue=q) == 2
    assert total(registry, "celery_task_retries_total") == 2
    # every attempt started: 8 ok + 3 boom + 3 flaky attempts
    assert value(registry, "celery_task_started_total", task="t.ok") == 8
    assert value(registry, "celery_task_started_total", task="t.boom") == 3
    assert value(registry, "celery_task_started_total", task="t.flaky") == 3
    assert value(registry, "celery_task_completed_total", task="t.ok", outcome="success") == 8
    assert value(registry, "celery_task_completed_total", task="t.flaky", outcome="success") == 1
    assert value(registry, "celery_task_completed_total", task="t.boom", outcome="failure") == 3
    assert total(registry, "celery_task_completed_total", outcome="failure") == 3
    # failures by exception class, never by message
    assert value(registry, "celery_task_failed_by_class_total", task="t.boom", error_type="ValueError") == 3
    assert total(registry, "celery_task_failed_by_class_total") == 3
    # runtime histogram: one observation per finished attempt
    assert total(registry, "celery_task_runtime_seconds_count") == 12
    # queue wait: one observation per started attempt; the 1.5 s countdown and the 0.3 s retry delays are
    # not waiting, so every attempt waited less than a second
    assert value(registry, "celery_task_queue_wait_seconds_count", queue=q) == 14
    assert value(registry, "celery_task_queue_wait_seconds_bucket", queue=q, le="1.0") == 14
    assert total(registry, "celery_tasks_in_flight") == 0
    assert metrics.running == 0


def test_a_retry_that_starts_before_its_first_attempt_has_ended(celery_setup: tuple[Any, Any, Any]) -> None:
    """A retry is the same task id: its attempt may start (on another pool thread) before the first attempt's
    postrun signal has run, on a loaded machine; each attempt is still counted as its own (the first attempt's
    postrun closed the retry's and its success went uncounted)."""
    from celery import signals

    app, telemetry, metrics = celery_setup
    registry = telemetry.registry

    def slow(**_: Any) -> None:
        time.sleep(1.0)  # the first attempt's postrun, held up past the retry's 0.3 s countdown

    signals.task_retry.connect(slow, weak=False, dispatch_uid="test-slow-retry")
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
            app.tasks["t.slow_retry"].delay()  # the retry runs from 0.3 s to 1.8 s
            wait_until(lambda: total(registry, "celery_task_completed_total") >= 1, what="the task's success")
            wait_until(lambda: metrics.running == 0, what="both attempts closed")
    finally:
        signals.task_retry.disconnect(dispatch_uid="test-slow-retry")
    assert value(registry, "celery_task_started_total", task="t.slow_retry") == 2
    assert value(registry, "celery_task_retries_total", task="t.slow_retry", queue="celery") == 1
    assert value(registry, "celery_task_completed_total", task="t.slow_retry", outcome="success") == 1
    assert total(registry, "celery_task_completed_total", outcome="failure") == 0
    assert total(registry, "celery_task_runtime_seconds_count") == 1
    assert total(registry, "celery_tasks_in_flight") == 0


def test_queue_wait_is_measured_from_publish(celery_setup: tuple[Any, Any, Any]) -> None:
    """Tasks published while no worker runs wait until one starts: the histogram sees that wait."""
    app, telemetry, _ = celery_setup
    registry = telemetry.registry
    for i in range(3):
        app.tasks["t.ok"].delay(i)
    app.tasks["t.ok"].apply_async((9,), priority=9)  # a priority sub-queue
    time.sleep(1.2)
    # the broker's view before any worker runs: 4 waiting, the oldest for over a second
    redis = sync_client(app.conf.broker_url)
    state = QueueState(redis, celery=["celery"], registry=registry)
    assert state.refresh()
    assert value(registry, "jobpulse_queue_depth", queue="celery") == 4
    assert 1.2 <= value(registry, "jobpulse_queue_oldest_age_seconds", queue="celery") < 10
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        wait_until(lambda: total(registry, "celery_task_completed_total") == 4, what="4 finished tasks")
    assert state.refresh()
    redis.close()
    assert value(registry, "jobpulse_queue_depth", queue="celery") == 0
    assert value(registry, "jobpulse_queue_oldest_age_seconds", queue="celery") == 0
    assert value(registry, "celery_task_queue_wait_seconds_count", queue="celery") == 4
    assert value(registry, "celery_task_queue_wait_seconds_bucket", queue="celery", le="1.0") == 0
    assert value(registry, "celery_task_queue_wait_seconds_bucket", queue="celery", le="10.0") == 4


def test_in_flight_counts_running_tasks(celery_setup: tuple[Any, Any, Any]) -> None:
    app, telemetry, _ = celery_setup
    registry = telemetry.registry
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        for _ in range(2):
            app.tasks["t.sleep"].delay(1.0)
        wait_until(lambda: value(registry, "celery_tasks_in_flight", task="t.sleep") == 2, what="2 in flight")
        wait_until(lambda: total(registry, "celery_task_completed_total") == 2, what="2 finished tasks")
        wait_until(lambda: value(registry, "celery_tasks_in_flight", task="t.sleep") == 0, what="0 in flight")
    assert value(registry, "celery_task_runtime_seconds_bucket", task="t.sleep", outcome="success", le="0.5") == 0
    assert value(registry, "celery_task_runtime_seconds_count", task="t.sleep", outcome="success") == 2


def test_trace_context_travels_in_task_headers(celery_setup: tuple[Any, Any, Any]) -> None:
    app, _, _ = celery_setup
    SEEN.clear()
    origin = context.RequestContext(request_id="req-42")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with context.use(origin) as ctx:
            result = app.tasks["t.context"].delay()
        wait_until(lambda: len(SEEN) == 1, what="the task")
    seen = SEEN[0]
    assert seen["trace_id"] == ctx.trace_id
    assert seen["request_id"] == "req-42"
    assert seen["job_id"] == result.id


HOSTILE = {
    TRACEPARENT: "00-zzzz\r\nX-Injected: 1-0000000000000000-01",
    REQUEST_ID: 'evil\n{"level":"critical","msg":"forged"}',
    PUBLISHED_AT: "1e300",
}


def test_hostile_task_headers_are_not_propagated(celery_setup: tuple[Any, Any, Any]) -> None:
    """A producer that is not jobpulse (or a hostile one) writes the headers: none of it gets through."""
    app, telemetry, _ = celery_setup
    registry = telemetry.registry
    from celery import signals

    def forge(headers: dict[str, Any] | None = None, **_: Any) -> None:
        assert headers is not None
        headers.update(HOSTILE)

    SEEN.clear()
    signals.before_task_publish.connect(forge, weak=False, dispatch_uid="forge")  # runs after jobpulse's
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            app.tasks["t.context"].apply_async(task_id="id with spaces\nand a newline")
            wait_until(lambda: len(SEEN) == 1, what="the task")
    finally:
        signals.before_task_publish.disconnect(dispatch_uid="forge")
    seen = SEEN[0]
    assert seen["request_id"] != HOSTILE[REQUEST_ID]
    assert context.valid_request_id(seen["request_id"]) == seen["request_id"]
    assert len(seen["trace_id"]) == 32 and "zz" not in seen["trace_id"]
    assert "job_id" not in seen  # the task id was not a valid id
    assert all("\n" not in v for v in seen.values())
    # the forged publish time is rejected: no queue wait observed, the task still counted
    assert value(registry, "celery_task_queue_wait_seconds_count", queue="celery") == 0
    assert value(registry, "celery_task_completed_total", task="t.context", outcome="success") == 1


def test_revoked_task_is_counted_not_run(celery_setup: tuple[Any, Any, Any]) -> None:
    app, telemetry, _ = celery_setup
    registry = telemetry.registry
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # the worker holds a countdown task until it is due, and discards it then: revoked, never run
        result = app.tasks["t.ok"].apply_async((1,), countdown=2)
        time.sleep(0.3)
        result.revoke()
        wait_until(lambda: value(registry, "celery_task_revoked_total", task="t.ok") == 1, what="revoked")
    assert value(registry, "celery_task_started_total", task="t.ok") == 0
    assert total(registry, "celery_task_completed_total") == 0


def test_eager_tasks_are_counted_once(celery_setup: tuple[Any, Any, Any]) -> None:
    app, telemetry, _ = celery_setup
    registry = telemetry.registry
    app.conf.task_always_eager = True
    app.tasks["t.ok"].delay(1)
    app.tasks["t.ok"].delay(2)
    assert value(registry, "celery_task_sent_total", task="t.ok", queue="unknown") == 2
    assert value(registry, "celery_task_completed_total", task="t.ok", outcome="success") == 2


def test_error_class_is_bounded() -> None:
    assert error_class(ValueError("secret=hunter2")) == "ValueError"
    assert error_class(type("Weird Name", (Exception,), {})) == "unknown"
    assert error_class(None) == "unknown"


def test_a_broken_metric_never_breaks_the_task(celery_setup: tuple[Any, Any, Any]) -> None:
    app, telemetry, metrics = celery_setup
    registry = telemetry.registry

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("metrics backend down")

    metrics.tracker = Broken()  # type: ignore[assignment]
    SEEN.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.tasks["t.context"].delay()
        wait_until(lambda: len(SEEN) == 1, what="the task ran")
    assert value(registry, "jobpulse_instrumentation_errors_total", integration="celery") >= 2


def test_prefork_pool_children_record_every_task(redis_server: RedisServer, tmp_path: Path) -> None:
    """A real ``celery worker --pool prefork`` subprocess; its children write multi-process files."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {
        **os.environ,
        "JOBPULSE_TEST_BROKER": redis_server.url,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.fixtures.queues.celery_tasks", "worker",
         "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    app, _, metrics = make_app(redis_server.url)
    try:
        for i in range(8):
            app.tasks["t.ok"].delay(i)
        for _ in range(2):
            app.tasks["t.boom"].delay()
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiproc))

        def finished() -> float:
            return total(registry, "celery_task_completed_total")

        wait_until(lambda: finished() == 10, timeout=60, what="10 finished tasks in the children's files")
        assert value(registry, "celery_task_completed_total", task="t.ok", outcome="success") == 8
        assert value(registry, "celery_task_failed_by_class_total", task="t.boom", error_type="ValueError") == 2
        assert total(registry, "celery_task_started_total") == 10
        assert total(registry, "celery_task_queue_wait_seconds_count") == 10
        assert total(registry, "celery_tasks_in_flight") == 0
        # the files are the pool children's (the worker's main process runs no task)
        pids = {int(path.stem.rsplit("_", 1)[1]) for path in multiproc.glob("*.db")}
        assert pids and worker.pid not in pids
    finally:
        metrics.disconnect()
        app.close()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
