"""Batch pushes against a real Pushgateway started on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from jobpulse.runtime.push import BatchRun, Pusher, classify, prune_groups
from jobpulse.spec.load import load_spec
from jobpulse.verify.pushgateway import PushgatewayServer

pytestmark = pytest.mark.integration

AI_SHORTS = Path(__file__).resolve().parents[2] / "examples" / "ai_shorts" / "jobpulse.yaml"


@pytest.fixture(scope="module")
def gateway(pushgateway_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushgatewayServer]:
    with PushgatewayServer(workdir=tmp_path_factory.mktemp("pushgateway"), binary=pushgateway_bin) as server:
        yield server


@pytest.fixture(autouse=True)
def empty_gateway(request: pytest.FixtureRequest) -> None:
    if "gateway" in request.fixturenames:
        server: PushgatewayServer = request.getfixturevalue("gateway")
        for group in server.groups():
            labels = dict(group["labels"])
            job = labels.pop("job")
            path = "".join(f"/{k}/{v}" for k, v in sorted(labels.items()))
            server.http.delete(f"/metrics/job/{job}{path}").raise_for_status()


def completed(gateway: PushgatewayServer) -> dict[tuple[str, str], float]:
    """batches_completed_total by (instance, status), without the zero of the outcome a run did not have."""
    out: dict[tuple[str, str], float] = {}
    for labels, value in gateway.samples("batches_completed_total").items():
        d = dict(labels)
        out[d["instance"], d["status"]] = value
    zeros = {k for k, v in out.items() if v == 0}
    assert all((k[0], "failure" if k[1] == "success" else "success") not in zeros for k in zeros)
    return {k: v for k, v in out.items() if v}


def test_listens_on_loopback_only(gateway: PushgatewayServer) -> None:
    """The Pushgateway's listening socket is bound to 127.0.0.1, not to every interface (from /proc/net/tcp*)."""
    assert gateway.http.get("/-/ready").status_code == 200
    listening: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == gateway.port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian hex


def test_two_concurrent_batches_both_visible(gateway: PushgatewayServer) -> None:
    """Seed 001's batches: two runs at the same time, one succeeds and one fails, land in two groups."""
    spec = load_spec(AI_SHORTS)
    started = threading.Barrier(2)
    runs: dict[str, BatchRun] = {}

    def batch(batch_id: str, fail: bool) -> None:
        run = BatchRun(spec, "batch", gateway=gateway.address, batch_id=batch_id, timeout=5)
        runs[batch_id] = run
        try:
            with run:
                started.wait(timeout=5)  # both runs are in progress at once
                time.sleep(0.05)
                if fail:
                    raise RuntimeError("a job of the batch failed")
        except RuntimeError:
            pass

    threads = [threading.Thread(target=batch, args=(f"b-{n}", n == 2)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs["b-1"].pushed and runs["b-2"].pushed
    assert gateway.group_labels() == [{"instance": "b-1", "job": "batch"}, {"instance": "b-2", "job": "batch"}]
    assert completed(gateway) == {("b-1", "success"): 1.0, ("b-2", "failure"): 1.0}
    durations = gateway.samples("batch_processing_seconds_count")
    assert durations == {(("instance", "b-1"), ("job", "batch")): 1.0, (("instance", "b-2"), ("job", "batch")): 1.0}
    sums = gateway.samples("batch_processing_seconds_sum")
    assert all(0.05 <= v < 5 for v in sums.values())
    # only the batch lifecycle's metrics are pushed, not the whole catalogue
    text = gateway.metrics_text()
    assert "llm_requests_total" not in text
    assert "active_jobs" not in text


def test_repush_replaces_only_its_own_group(gateway: PushgatewayServer) -> None:
    spec = load_spec(AI_SHORTS)
    with BatchRun(spec, "batch", gateway=gateway.address, batch_id="b-1"):
        pass
    with BatchRun(spec, "batch", gateway=gateway.address, batch_id="b-2"):
        pass
    # b-1 runs again and fails: its group now holds the failure only (PUT replaces the group)...
    with pytest.raises(ValueError, match="boom"), BatchRun(spec, "batch", gateway=gateway.address, batch_id="b-1"):
        raise ValueError("boom")
    # ...and b-2's group is untouched
    assert completed(gateway) == {("b-1", "failure"): 1.0, ("b-2", "success"): 1.0}


def test_pushadd_replaces_only_the_sent_metric_names(gateway: PushgatewayServer) -> None:
    first = CollectorRegistry()
    Counter("rows_read", "Rows read.", registry=first).inc(5)
    Counter("rows_written", "Rows written.", registry=first).inc(3)
    assert Pusher(gateway.address, "etl", grouping_key={"instance": "run-7"}, registry=first).push()
    second = CollectorRegistry()
    Counter("rows_read", "Rows read.", registry=second).inc(8)
    assert Pusher(gateway.address, "etl", grouping_key={"instance": "run-7"}, registry=second).push("pushadd")
    assert gateway.samples("rows_read_total") == {(("instance", "run-7"), ("job", "etl")): 8.0}
    assert gateway.samples("rows_written_total") == {(("instance", "run-7"), ("job", "etl")): 3.0}
    # a push (PUT) of the second registry replaces the whole group: rows_written is gone
    assert Pusher(gateway.address, "etl", grouping_key={"instance": "run-7"}, registry=second).push()
    assert gateway.samples("rows_written_total") == {}


def test_delete_on_success_keeps_failed_groups(gateway: PushgatewayServer) -> None:
    spec = load_spec(AI_SHORTS)
    with BatchRun(spec, "batch", gateway=gateway.address, batch_id="ok", delete_on_success=True) as run:
        pass
    assert run.pushed is True
    with (
        pytest.raises(KeyError),
        BatchRun(spec, "batch", gateway=gateway.address, batch_id="bad", delete_on_success=True),
    ):
        raise KeyError("x")
    assert gateway.group_labels() == [{"instance": "bad", "job": "batch"}]


def test_unreachable_gateway_never_raises(jobpulse_log: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = load_spec(AI_SHORTS)
    with BatchRun(spec, "batch", gateway=f"127.0.0.1:{port}", batch_id="b-1", timeout=1, attempts=2) as run:
        pass
    assert run.succeeded is True and run.pushed is False
    assert run.registry.get_sample_value("jobpulse_push_errors_total", {"reason": "connection"}) == 2
    assert "Pushgateway" in jobpulse_log.text and "connection" in jobpulse_log.text


def test_timeout_bounds_a_silent_gateway() -> None:
    """A listener that accepts and never answers: the push gives up after its timeout, counted as such."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        registry = CollectorRegistry()
        Counter("x", "X.", registry=registry).inc()
        pusher = Pusher(
            f"127.0.0.1:{server.getsockname()[1]}",
            "j",
            grouping_key={"instance": "1"},
            registry=registry,
            timeout=0.3,
            attempts=1,
        )
        start = time.monotonic()
        assert pusher.push() is False
        assert time.monotonic() - start < 2
        assert registry.get_sample_value("jobpulse_push_errors_total", {"reason": "timeout"}) == 1
        assert classify(pusher.last_error or Exception()) == "timeout"
    finally:
        server.close()


def test_errors_are_pushed_with_the_next_successful_push(gateway: PushgatewayServer) -> None:
    registry = CollectorRegistry()
    Counter("y", "Y.", registry=registry).inc()
    pusher = Pusher("127.0.0.1:1", "j", grouping_key={"instance": "1"}, registry=registry, timeout=1, attempts=1)
    assert pusher.push() is False
    pusher.gateway = gateway.address
    assert pusher.push() is True
    assert gateway.samples("jobpulse_push_errors_total") == {
        (("instance", "1"), ("job", "j"), ("reason", "connection")): 1.0
    }


def test_grouping_key_is_required_and_checked() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="grouping key is required"):
        Pusher("127.0.0.1:1", "j", grouping_key={}, registry=registry)
    with pytest.raises(ValueError, match="not a valid label name"):
        Pusher("127.0.0.1:1", "j", grouping_key={"job": "x"}, registry=registry)
    with pytest.raises(KeyError, match="not in the spec"):
        BatchRun(load_spec(AI_SHORTS), "nightly", gateway="127.0.0.1:1", batch_id="1")


def test_prune_groups_removes_only_old_groups_of_the_job(gateway: PushgatewayServer) -> None:
    for job, instance in (("etl", "a"), ("etl", "b"), ("other", "c")):
        registry = CollectorRegistry()
        Counter("z", "Z.", registry=registry).inc()
        assert Pusher(gateway.address, job, grouping_key={"instance": instance}, registry=registry).push()
    assert prune_groups(gateway.address, "etl", older_than=3600) == 0
    assert prune_groups(gateway.address, "etl", older_than=60, now=time.time() + 120) == 2
    assert gateway.group_labels() == [{"instance": "c", "job": "other"}]
    assert prune_groups("127.0.0.1:1", "etl", older_than=0, timeout=1) == 0  # unreachable: logged, no raise


def test_prometheus_scrapes_both_batches_from_the_gateway(
    gateway: PushgatewayServer, prometheus_bin: str, tmp_path: Path
) -> None:
    """The whole path: two batch runs push, a real Prometheus scrapes the Pushgateway with honor_labels and
    sees each run's outcome under its own instance label, and ai_shorts' BatchProcessingFailure fires for the
    failed run (issue 17: a pushed failure counter is born at 1, which has no increase() in Prometheus; the rules
    run 60 times faster, so its `for: 1m` and 5-minute window take seconds)."""
    from jobpulse.compile import compile_spec
    from jobpulse.demo.monitoring import demo_rule_file
    from jobpulse.render.files import write_build
    from jobpulse.verify.servers import PrometheusServer, prometheus_config, scrape_config
    from jobpulse.verify.timescale import SpeedClock

    spec = load_spec(AI_SHORTS)
    build = compile_spec(spec)
    write_build(build, tmp_path / "build")
    rules = demo_rule_file(tmp_path / "build" / build.rule_file, tmp_path, "1s", SpeedClock(60))
    with BatchRun(spec, "batch", gateway=gateway.address, batch_id="b-ok"):
        pass
    with pytest.raises(RuntimeError), BatchRun(spec, "batch", gateway=gateway.address, batch_id="b-bad"):
        raise RuntimeError("a job failed")
    scrape = {**scrape_config("pushgateway", gateway.address, interval="1s"), "honor_labels": True}
    config = prometheus_config(scrape_configs=[scrape], evaluation_interval="1s")
    with PrometheusServer(
        config=config, rule_files=[rules], workdir=tmp_path / "prometheus", binary=prometheus_bin
    ) as prometheus:
        result = prometheus.wait_for(
            lambda: prometheus.query('batches_completed_total{job="batch"} > 0'), timeout=20, interval=0.5
        )
        seen = {(r["metric"]["instance"], r["metric"]["status"]) for r in result}
        assert seen == {("b-ok", "success"), ("b-bad", "failure")}
        failed = prometheus.query('sum(batches_completed_total{status="failure"})')
        assert float(failed[0]["value"][1]) == 1

        def batch_failure() -> list[dict[str, object]]:
            firing = [a for a in prometheus.alerts() if a["state"] == "firing"]
            return [a for a in firing if a["labels"]["alertname"] == "BatchProcessingFailure"]

        prometheus.wait_for(batch_failure, timeout=30, interval=0.5)
