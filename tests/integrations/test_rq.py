"""RQ jobs through jobpulse's queue and worker classes, with a real Redis and real RQ workers
(the forking ``Worker`` — each job in a work horse — and ``SimpleWorker``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from rq import Retry, SimpleWorker, Worker
from rq.registry import FailedJobRegistry

from jobpulse import Telemetry
from jobpulse.integrations.redis import sync_client
from jobpulse.integrations.rq import META_REQUEST_ID, META_TRACEPARENT, exception_class_of, instrument_rq
from jobpulse.runtime import context
from jobpulse.runtime.queues import QueueState
from jobpulse.testing import sample, total
from jobpulse.verify.datastores import RedisServer
from tests.fixtures.queues import rq_jobs

pytestmark = pytest.mark.integration
SPEC = Path(__file__).parents[1] / "fixtures" / "queues" / "tasks.yaml"
OK, BOOM, FLAKY, RETURNS_RETRY = (
    "tests.fixtures.queues.rq_jobs.ok",
    "tests.fixtures.queues.rq_jobs.boom",
    "tests.fixtures.queues.rq_jobs.flaky",
    "tests.fixtures.queues.rq_jobs.returns_retry",
)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return sample(registry, name, **labels) or 0.0


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Any]:
    client = sync_client(redis_server.url, timeout=5.0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def setup(redis: Any) -> tuple[Any, Telemetry, Any]:
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(SPEC, registry=registry)
    metrics = instrument_rq(telemetry, "task", errors="celery_task_failed_by_class_total")
    return redis, telemetry, metrics


def drain(new_worker: Callable[[], Any], registry: CollectorRegistry, finished: int, timeout: float = 30.0) -> None:
    """Run burst passes (with the scheduler) until ``finished`` attempts have completed.

    Each pass gets a new worker, as a real burst run (``rq worker --burst``) would: since RQ 3 a worker whose
    ``work()`` is called again runs maintenance that forks a background scheduler holding the queue's
    scheduler lock for a minute, and later burst passes can then not move scheduled jobs to the queue.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new_worker().work(burst=True, with_scheduler=True)
        if total(registry, "celery_task_completed_total") >= finished:
            return
        time.sleep(0.2)
    raise AssertionError(f"only {total(registry, 'celery_task_completed_total')} of {finished} attempts finished")


@pytest.mark.parametrize("worker_base", [Worker, SimpleWorker], ids=["forking", "simple"])
def test_known_mix_of_outcomes_retries_delays_and_requeues(setup: tuple[Any, Telemetry, Any], worker_base: Any) -> None:
    redis, telemetry, metrics = setup
    registry = telemetry.registry
    queue = metrics.queue_class()("renders", connection=redis)
    for i in range(5):
        queue.enqueue(rq_jobs.ok, i)
    queue.enqueue_in(timedelta(seconds=4), rq_jobs.ok, 99)  # a scheduled delay is not queue wait
    booms = [queue.enqueue(rq_jobs.boom) for _ in range(2)]
    queue.enqueue(rq_jobs.flaky, 1, retry=Retry(max=2))  # fails once, then succeeds
    queue.enqueue(rq_jobs.boom, retry=Retry(max=1, interval=3))  # fails, retried after 3 s, fails for good
    queue.enqueue(rq_jobs.returns_retry)  # returns Retry once, then succeeds

    def worker() -> Any:
        return metrics.worker_class(worker_base)([queue], connection=redis)

    drain(worker, registry, finished=11)
    # a failed job put back by hand, run again (and failing again)
    metrics.requeue(booms[0].id, connection=redis)
    drain(worker, registry, finished=12)

    q = "renders"
    assert value(registry, "celery_task_sent_total", task=OK, queue=q) == 6
    assert value(registry, "celery_task_sent_total", task=BOOM, queue=q) == 2 + 2 + 1  # 3 jobs, 1 retry, 1 requeue
    assert value(registry, "celery_task_sent_total", task=FLAKY, queue=q) == 2
    assert value(registry, "celery_task_sent_total", task=RETURNS_RETRY, queue=q) == 2
    assert value(registry, "celery_task_retries_total", task=BOOM, queue=q) == 1
    assert value(registry, "celery_task_retries_total", task=FLAKY, queue=q) == 1
    assert value(registry, "celery_task_retries_total", task=RETURNS_RETRY, queue=q) == 1
    assert total(registry, "celery_task_started_total") == 6 + 5 + 2 + 2
    assert value(registry, "celery_task_completed_total", task=OK, outcome="success") == 6
    assert value(registry, "celery_task_completed_total", task=FLAKY, outcome="success") == 1
    assert value(registry, "celery_task_completed_total", task=RETURNS_RETRY, outcome="success") == 1
    assert value(registry, "celery_task_completed_total", task=BOOM, outcome="failure") == 4
    assert total(registry, "celery_task_completed_total", outcome="failure") == 4
    assert value(registry, "celery_task_failed_by_class_total", task=BOOM, error_type="RenderFailed") == 4
    assert total(registry, "celery_task_failed_by_class_total") == 4
    assert total(registry, "celery_task_runtime_seconds_count") == 12
    assert value(registry, "celery_task_queue_wait_seconds_count", queue=q) == 15
    # neither the 4 s schedule nor the 3 s retry interval counts as waiting (2.5 s leaves room for forking
    # work horses on a busy machine, and is still below both delays)
    assert value(registry, "celery_task_queue_wait_seconds_bucket", queue=q, le="2.5") == 15
    assert total(registry, "celery_tasks_in_flight") == 0
    # the broker agrees: nothing waiting; 4 failures of 3 distinct jobs (the requeued one failed again)
    state = QueueState(redis, rq=[q], registry=CollectorRegistry())
    assert state.refresh()
    snap = state.snapshots[q]
    assert snap.depth == 0 and snap.oldest_age == 0
    assert snap.jobs["failed"] == len(FailedJobRegistry(q, connection=redis).get_job_ids()) == 3


def test_queue_wait_covers_time_in_the_queue(setup: tuple[Any, Telemetry, Any]) -> None:
    redis, telemetry, metrics = setup
    registry = telemetry.registry
    queue = metrics.queue_class()("renders", connection=redis)
    for i in range(3):
        queue.enqueue(rq_jobs.ok, i)
    time.sleep(1.1)
    drain(lambda: metrics.worker_class(SimpleWorker)([queue], connection=redis), registry, finished=3)
    assert value(registry, "celery_task_queue_wait_seconds_count", queue="renders") == 3
    assert value(registry, "celery_task_queue_wait_seconds_bucket", queue="renders", le="1.0") == 0


def test_trace_context_travels_in_job_meta_and_hostile_meta_is_dropped(setup: tuple[Any, Telemetry, Any]) -> None:
    redis, telemetry, metrics = setup
    queue = metrics.queue_class()("ctx", connection=redis)
    with context.use(context.RequestContext(request_id="req-7")) as ctx:
        good = queue.enqueue(rq_jobs.seen_context)
    hostile = queue.enqueue(
        rq_jobs.seen_context,
        job_id="evil-id",
        meta={META_TRACEPARENT: "00-" + "g" * 32 + "-" + "0" * 16 + "-01\r\nX: y", META_REQUEST_ID: "a b\n{forged}"},
    )
    drain(lambda: metrics.worker_class(SimpleWorker)([queue], connection=redis), telemetry.registry, finished=2)
    seen = good.latest_result().return_value
    assert seen["trace_id"] == ctx.trace_id and seen["request_id"] == "req-7" and seen["job_id"] == good.id
    forged = hostile.latest_result().return_value
    assert forged["request_id"] != "a b\n{forged}" and context.valid_request_id(forged["request_id"])
    assert "g" not in forged["trace_id"] and len(forged["trace_id"]) == 32
    assert all("\n" not in v for v in forged.values())


def test_exception_class_from_a_traceback() -> None:
    tb = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    raise E("secret")\n'
        "pkg.mod.RenderFailed: secret=1\n"
    )
    assert exception_class_of(tb) == "RenderFailed"
    assert exception_class_of("KeyboardInterrupt\n") == "KeyboardInterrupt"
    assert exception_class_of("Work-horse terminated unexpectedly; waitpid returned 9") == "unknown"
    assert exception_class_of("") == "unknown"


def test_a_broken_metric_never_breaks_the_worker(setup: tuple[Any, Telemetry, Any]) -> None:
    redis, telemetry, metrics = setup

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("metrics backend down")

    queue = metrics.queue_class()("renders", connection=redis)
    metrics.tracker = Broken()
    job = queue.enqueue(rq_jobs.ok, 3)
    metrics.worker_class(SimpleWorker)([queue], connection=redis).work(burst=True)
    assert job.latest_result().return_value == 3
    assert value(telemetry.registry, "jobpulse_instrumentation_errors_total", integration="rq") >= 2


def test_burst_workers_exit_without_the_pubsub_stall(setup: tuple[Any, Telemetry, Any]) -> None:
    """RQ 3 with redis-py 8.2 can wait 60 s in ``unsubscribe`` when a worker exits; jobpulse's worker does not.

    The stall needs the pubsub thread to handle the unsubscribe reply before the worker stops it, so it comes
    and goes with timing: 20 exits make it all but certain to show if the fix is undone (each would then
    take a minute, far over the bound).
    """
    redis, _, metrics = setup
    queue = metrics.queue_class()("exits", connection=redis)
    for _ in range(20):
        worker = metrics.worker_class(SimpleWorker)([queue], connection=redis)
        began = time.monotonic()
        worker.work(burst=True)
        assert time.monotonic() - began < 15, "a burst worker took the pubsub thread's 60 s timeout to exit"
        assert not worker.pubsub_thread.is_alive()
