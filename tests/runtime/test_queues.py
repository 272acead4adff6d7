"""Queue depth and oldest-job age read from a real Redis: Celery lists with priority sub-queues, RQ
queues and registries, one collector for all of them, and Redis going away and coming back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rq import Queue, SimpleWorker

from jobpulse.integrations.redis import sync_client
from jobpulse.integrations.rq import _stop_pubsub_thread
from jobpulse.runtime.queues import QueueState, celery_queue_keys
from jobpulse.verify.datastores import RedisServer
from tests.fixtures.queues import rq_jobs
from tests.fixtures.queues.celery_tasks import make_app

pytestmark = pytest.mark.integration


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class CountingClient:
    """A redis client that counts round trips (a pipeline's execute is one)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.round_trips = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self.client.pipeline(*args, **kwargs)
        outer = self
        execute = pipe.execute

        def counted(*a: Any, **k: Any) -> Any:
            outer.round_trips += 1
            return execute(*a, **k)

        pipe.execute = counted
        return pipe

    def __getattr__(self, name: str) -> Any:
        self.round_trips += 1
        return getattr(self.client, name)


class QuickExitWorker(SimpleWorker):
    """RQ's SimpleWorker with the shutdown fix of jobpulse's worker class: on redis-py 8.2 a plain one stalls for
    60 s on exit about one run in thirty (jobpulse.integrations.rq._stop_pubsub_thread)."""

    def unsubscribe(self) -> None:
        _stop_pubsub_thread(self)


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Any]:
    redis = sync_client(redis_server.url)
    try:
        yield redis
    finally:
        redis.close()


def test_celery_depth_counts_priority_sub_queues_and_age_comes_from_the_stamp(
    redis_server: RedisServer, client: Any
) -> None:
    app, _, metrics = make_app(redis_server.url)
    try:
        sent_at = time.time()
        for i in range(3):
            app.tasks["t.ok"].apply_async((i,), queue="renders")
        for priority in (3, 6, 9, 9):
            app.tasks["t.ok"].apply_async((0,), queue="renders", priority=priority)
        app.tasks["t.ok"].apply_async((0,), queue="other")
    finally:
        metrics.disconnect()
        app.close()
    lengths = {key: client.llen(key) for key in celery_queue_keys("renders")}
    assert sorted(lengths.values()) == [1, 1, 2, 3], "the tasks are spread over priority sub-queues"
    registry = CollectorRegistry()
    state = QueueState(client, celery=["renders", "other", "empty"], registry=registry, clock=lambda: sent_at + 100)
    assert state.refresh()
    assert value(registry, "jobpulse_queue_depth", queue="renders") == 7
    assert value(registry, "jobpulse_queue_depth", queue="other") == 1
    assert value(registry, "jobpulse_queue_depth", queue="empty") == 0
    age = value(registry, "jobpulse_queue_oldest_age_seconds", queue="renders")
    assert age is not None and 98.5 < age <= 100
    assert value(registry, "jobpulse_queue_oldest_age_seconds", queue="empty") == 0
    assert value(registry, "jobpulse_redis_up") == 1


def test_rq_depth_age_and_registries(redis_server: RedisServer, client: Any) -> None:
    queue = Queue("renders", connection=client)
    for _ in range(2):
        queue.enqueue(rq_jobs.boom)
    for i in range(3):
        queue.enqueue(rq_jobs.ok, i)
    QuickExitWorker([queue], connection=client).work(burst=True)
    first = time.time()
    for i in range(4):
        queue.enqueue(rq_jobs.ok, i)
    from datetime import timedelta

    queue.enqueue_in(timedelta(hours=1), rq_jobs.ok, 1)
    registry = CollectorRegistry()
    state = QueueState(client, rq=["renders"], registry=registry, clock=lambda: first + 30)
    assert state.refresh()
    assert value(registry, "jobpulse_queue_depth", queue="renders") == 4
    age = value(registry, "jobpulse_queue_oldest_age_seconds", queue="renders")
    assert age is not None and 29 <= age <= 30.5
    assert value(registry, "jobpulse_queue_jobs", queue="renders", state="failed") == 2
    assert value(registry, "jobpulse_queue_jobs", queue="renders", state="finished") == 3
    assert value(registry, "jobpulse_queue_jobs", queue="renders", state="scheduled") == 1
    assert value(registry, "jobpulse_queue_jobs", queue="renders", state="queued") == 4
    assert value(registry, "jobpulse_queue_jobs", queue="renders", state="started") == 0


def test_one_collector_two_round_trips_per_refresh_none_per_scrape(client: Any) -> None:
    counting = CountingClient(client)
    registry = CollectorRegistry()
    state = QueueState(
        counting, celery=[f"c{i}" for i in range(20)], rq=[f"r{i}" for i in range(20)], registry=registry
    )
    Queue("r3", connection=client).enqueue(rq_jobs.ok, 1)  # one RQ head to look up
    assert state.refresh()
    assert counting.round_trips == 2
    for _ in range(10):
        generate_latest(registry)
    assert counting.round_trips == 2, "a scrape never reaches the broker"
    assert value(registry, "jobpulse_queue_depth", queue="r3") == 1
    assert value(registry, "jobpulse_queue_refresh_duration_seconds_count") == 1


def test_redis_down_is_a_gauge_and_an_error_count_not_an_exception(redis_server: RedisServer, client: Any) -> None:
    registry = CollectorRegistry()
    state = QueueState(redis_server.url, celery=["celery"], registry=registry, interval=0.1, timeout=0.5)
    client.lpush("celery", b"{}")
    with state:
        deadline = time.monotonic() + 10
        while value(registry, "jobpulse_queue_depth", queue="celery") != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert value(registry, "jobpulse_redis_up") == 1
        redis_server.kill()
        deadline = time.monotonic() + 10
        while value(registry, "jobpulse_redis_up") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert value(registry, "jobpulse_redis_up") == 0
        errors = value(registry, "jobpulse_queue_refresh_errors_total") or 0
        assert errors >= 1
        assert state.last_error is not None and "pw-" not in state.last_error
        redis_server.start()
        deadline = time.monotonic() + 10
        while value(registry, "jobpulse_redis_up") != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert value(registry, "jobpulse_redis_up") == 1


def test_spec_metrics_and_a_queue_label_of_the_seed(client: Any, tmp_path: Any) -> None:
    """The age gauge can be a catalogue metric, e.g. seed 002's gauge with its queue_name label."""
    from jobpulse import Telemetry

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: jobpulse/v1\nservice: {name: s}\nmetrics:\n"
        "  - name: luneo_worker_queue_wait_time_current_seconds\n    type: gauge\n    help: oldest job age\n"
        "    labels: {queue_name: {max_values: 2}}\n"
    )
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(spec, registry=registry)
    state = QueueState(
        client,
        rq=["a", "b", "c"],
        registry=registry,
        telemetry=telemetry,
        queue_label="queue_name",
        names={"oldest_age": "luneo_worker_queue_wait_time_current_seconds"},
    )
    assert state.refresh()
    assert value(registry, "luneo_worker_queue_wait_time_current_seconds", queue_name="a") == 0
    # the spec bounds the label to two values: the third queue is __other__, counted as an overflow
    assert value(registry, "luneo_worker_queue_wait_time_current_seconds", queue_name="__other__") == 0
    assert value(registry, "jobpulse_label_overflow_total", metric="luneo_worker_queue_wait_time_current_seconds",
                 label="queue_name") == 1  # fmt: skip
    assert value(registry, "jobpulse_queue_depth", queue_name="c") == 0
