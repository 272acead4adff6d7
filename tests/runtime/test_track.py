"""The rollout track label: from ``Telemetry(track=)`` or ``$JOBPULSE_TRACK``, onto the metrics that declare it,
through the HTTP middleware, the job tracker and ``Instrument.labels()`` — bounded like every label."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jobpulse import LabelError, Telemetry
from jobpulse.runtime.http import MetricsMiddleware
from jobpulse.runtime.track import MAX_TRACK_LENGTH, TRACK_ENV, resolve_track
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec
from jobpulse.testing import fresh_telemetry, sample, samples
from tests.helpers import write_spec

# The service's HTTP metrics and one job carry the rollout's label; the probe counter and the queue gauge do not.
SPEC = """\
version: jobpulse/v1
service: {name: shop}
metrics:
  - name: http_requests_total
    type: counter
    help: Requests.
    labels:
      method: {values: [GET, POST, OTHER]}
      route: {max_values: 20}
      status: {max_values: 20}
      track: {values: [baseline, canary]}
  - name: http_request_seconds
    type: histogram
    unit: seconds
    help: Latency.
    labels:
      route: {max_values: 20}
      track: {values: [baseline, canary]}
    buckets: [0.1, 1]
  - name: http_in_flight
    type: gauge
    help: Requests in progress.
    labels:
      track: {values: [baseline, canary]}
  - name: http_response_bytes
    type: histogram
    unit: bytes
    help: Response sizes (no track).
    labels:
      route: {max_values: 20}
    buckets: [100, 1000]
  - name: orders_total
    type: counter
    help: Orders enqueued.
    labels:
      kind: {values: [standard, express]}
      track: {values: [baseline, canary]}
  - name: orders_done_total
    type: counter
    help: Orders finished.
    labels:
      kind: {values: [standard, express]}
      outcome: {values: [ok, error]}
      track: {values: [baseline, canary]}
  - name: order_seconds
    type: histogram
    unit: seconds
    help: Order duration.
    labels:
      outcome: {values: [ok, error]}
      track: {values: [baseline, canary]}
    buckets: [0.1, 1]
  - name: orders_waiting
    type: gauge
    help: Orders in the queue (no track).
    labels:
      kind: {values: [standard, express]}
  - name: payment_probes_total
    type: counter
    help: Payment provider probes.
    labels:
      provider: {values: [card, wallet]}
      track: {values: [baseline, canary]}
jobs:
  - name: order
    attributes: [kind]
    outcomes: {success: ok, failure: error}
    metrics:
      enqueued: orders_total
      completed: orders_done_total
      duration: order_seconds
      queue_depth: orders_waiting
rollouts:
  - name: shop-v2
    label: track
    phases:
      - {name: canary, weight: 5, min_duration: 30m, min_events: 100}
    metrics:
      - name: errors
        ratio: {numerator: 'orders_done_total{outcome="error"}', denominator: orders_done_total}
"""


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write_spec(tmp_path, SPEC)


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


def http_app(telemetry: Telemetry) -> Any:
    return MetricsMiddleware.from_telemetry(
        Starlette(routes=[Route("/hello", hello)]),
        telemetry,
        requests="http_requests_total",
        duration="http_request_seconds",
        in_progress="http_in_flight",
        response_size="http_response_bytes",
    )


async def get(app: Any, path: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return (await client.get(path)).status_code


# -- where the value comes from ------------------------------------------------------------------------------------
def test_the_argument_wins_over_the_environment() -> None:
    assert resolve_track("track", "canary", {TRACK_ENV: "baseline"}).value == "canary"
    assert resolve_track("track", None, {TRACK_ENV: "baseline"}).value == "baseline"
    assert resolve_track("version", None, {TRACK_ENV: "v7"}).label == "version"
    unset = resolve_track("track", None, {TRACK_ENV: ""})
    assert (unset.value, unset.is_set) == ("", False)
    assert not resolve_track("track", "", {TRACK_ENV: "canary"}).is_set  # "" turns it off whatever the environment


@pytest.mark.parametrize("bad", ["x" * (MAX_TRACK_LENGTH + 1), "canary\n", " canary", "can\x00ary"])
def test_a_malformed_track_is_refused_naming_its_source(bad: str) -> None:
    with pytest.raises(ValueError, match=rf"\${TRACK_ENV}: the rollout track must be"):
        resolve_track("track", None, {TRACK_ENV: bad})
    with pytest.raises(ValueError, match="track=: the rollout track must be"):
        resolve_track("track", bad)
    with pytest.raises(TypeError, match="track=: the rollout track is a string"):
        resolve_track("track", 7)  # type: ignore[arg-type]


def test_telemetry_reads_jobpulse_track(spec_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACK_ENV, "baseline")
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry())
    assert (telemetry.track.label, telemetry.track.value) == ("track", "baseline")
    with telemetry.job("order").run(kind="standard"):
        pass
    assert sample(telemetry, "orders_total", kind="standard", track="baseline") == 1
    # the testing helper never reads the environment
    assert not fresh_telemetry(spec_path).track.is_set


def test_the_label_is_the_rollouts_label(tmp_path: Path) -> None:
    text = SPEC.replace("track:", "version:").replace("[baseline, canary]", "[v6, v7]")
    text = text.replace("    label: track\n", "    label: version\n    canary: v7\n    baseline: v6\n")
    telemetry = fresh_telemetry(write_spec(tmp_path, text), track="v7")
    assert telemetry.track.label == "version"
    telemetry.job("order").enqueue("o1", kind="express")
    assert sample(telemetry, "orders_total", kind="express", version="v7") == 1


# -- the job tracker -------------------------------------------------------------------------------------------------
def test_the_tracker_labels_the_jobs_metrics_that_declare_the_track(spec_path: Path) -> None:
    telemetry = fresh_telemetry(spec_path, track="canary")
    tracker = telemetry.job("order")
    with tracker.run(kind="express"):
        pass
    job = tracker.enqueue("o2", "standard")  # positionally, the fast path
    job.start()
    job.fail(RuntimeError("declined"))
    assert sample(telemetry, "orders_total", kind="express", track="canary") == 1
    assert sample(telemetry, "orders_done_total", kind="express", outcome="ok", track="canary") == 1
    assert sample(telemetry, "orders_done_total", kind="standard", outcome="error", track="canary") == 1
    assert sample(telemetry, "order_seconds_count", outcome="error", track="canary") == 1
    # a metric without the label is untouched, and the job's attributes are only its own
    assert sample(telemetry, "orders_waiting", kind="standard") == 0
    assert [s.labels for s in samples(telemetry, "orders_waiting")] == [{"kind": "express"}, {"kind": "standard"}]
    assert job.attributes == {"kind": "standard"}


def test_a_job_attribute_named_like_the_track_keeps_its_value() -> None:
    # the rollout fixture passes track as a job attribute (a simulated rollout records both sides in one process)
    telemetry = fresh_telemetry(Path(__file__).parents[1] / "fixtures" / "canary" / "rollout.yaml", track="canary")
    telemetry.job("request").enqueue("r1", track="baseline")
    assert sample(telemetry, "checkout_requests_total", track="baseline") == 1
    assert sample(telemetry, "checkout_requests_total", track="canary") is None


def test_a_track_outside_the_allowed_values_is_bounded(spec_path: Path) -> None:
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry(), track="canry")
    telemetry.job("order").enqueue("o1", kind="standard")
    assert sample(telemetry, "orders_total", kind="standard", track="__other__") == 1
    assert sample(telemetry, "jobpulse_label_overflow_total", metric="orders_total", label="track") == 1
    strict = fresh_telemetry(spec_path, track="canry")
    with pytest.raises(LabelError, match="'canry' is outside the bound of label 'track'"):
        strict.job("order").enqueue("o1", kind="standard")


def test_without_a_track_the_tracker_warns_and_bounds_the_empty_value(
    spec_path: Path, jobpulse_log: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry(), track="")
    telemetry.job("order").enqueue("o1", kind="standard")
    assert sample(telemetry, "orders_total", kind="standard", track="__other__") == 1
    warning = [r.getMessage() for r in jobpulse_log.records if r.name == "jobpulse.track"]
    assert warning == [
        "job 'order': order_seconds, orders_done_total, orders_total declare the rollout label 'track' but no track "
        "is set (Telemetry(track=...) or $JOBPULSE_TRACK): they get an empty track (__other__ where the label lists "
        "its allowed values)"
    ]


def test_a_budget_label_keeps_the_empty_track(tmp_path: Path) -> None:
    telemetry = fresh_telemetry(write_spec(tmp_path, SPEC.replace("{values: [baseline, canary]}", "{max_values: 3}")))
    telemetry.job("order").enqueue("o1", kind="standard")
    assert sample(telemetry, "orders_total", kind="standard", track="") == 1  # Prometheus: no track label at all


def test_jobs_metrics_may_declare_the_track_label_but_no_other_label_beyond_the_attributes(tmp_path: Path) -> None:
    load_spec(write_spec(tmp_path, SPEC))  # orders_total has `track`, which is not an attribute
    text = SPEC.replace(
        "      kind: {values: [standard, express]}\n      track:",
        "      kind: {values: [standard, express]}\n      region: {max_values: 3}\n      track:",
        1,
    )
    with pytest.raises(SpecError, match="orders_total has labels region that the job cannot fill"):
        load_spec(write_spec(tmp_path, text))
    # without a rollouts section the label is `track`: other names still need to be attributes
    no_rollout = SPEC.split("rollouts:")[0]
    load_spec(write_spec(tmp_path, no_rollout))
    with pytest.raises(SpecError, match="orders_total has labels version that the job cannot fill"):
        load_spec(write_spec(tmp_path, no_rollout.replace("track:", "version:")))


# -- the HTTP middleware -----------------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_the_middleware_labels_the_metrics_that_declare_the_track(spec_path: Path) -> None:
    telemetry = fresh_telemetry(spec_path, track="canary")
    app = http_app(telemetry)
    assert await get(app, "/hello") == 200
    assert await get(app, "/hello") == 200
    assert sample(telemetry, "http_requests_total", method="GET", route="/hello", status="200", track="canary") == 2
    assert sample(telemetry, "http_request_seconds_count", route="/hello", track="canary") == 2
    assert sample(telemetry, "http_in_flight", track="canary") == 0
    # no track on the metric that does not declare it
    assert [s.labels for s in samples(telemetry, "http_response_bytes_count")] == [{"route": "/hello"}]


@pytest.mark.anyio
async def test_an_explicit_constant_label_wins_over_the_track(spec_path: Path) -> None:
    telemetry = fresh_telemetry(spec_path, track="canary")
    app = MetricsMiddleware.from_telemetry(
        Starlette(routes=[Route("/hello", hello)]),
        telemetry,
        requests="http_requests_total",
        constant_labels={"track": "baseline"},
    )
    await get(app, "/hello")
    assert sample(telemetry, "http_requests_total", method="GET", route="/hello", status="200", track="baseline") == 1


@pytest.mark.anyio
async def test_the_middleware_without_a_track_warns_and_still_serves(
    spec_path: Path, jobpulse_log: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry(), track="")
    app = http_app(telemetry)
    assert await get(app, "/hello") == 200
    assert sample(telemetry, "http_requests_total", method="GET", route="/hello", status="200", track="__other__") == 1
    assert sample(telemetry, "jobpulse_label_overflow_total", metric="http_requests_total", label="track") == 1
    messages = [r.getMessage() for r in jobpulse_log.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith("MetricsMiddleware: http_in_flight, http_request_seconds, http_requests_total") for m in messages
    )


# -- metrics the app updates itself ----------------------------------------------------------------------------------
def test_instrument_labels_fills_a_left_out_track(spec_path: Path) -> None:
    telemetry = fresh_telemetry(spec_path, track="canary")
    probes = telemetry.metric("payment_probes_total")
    probes.inc(provider="card")
    probes.inc(provider="card", track="baseline")  # given: kept
    assert sample(telemetry, "payment_probes_total", provider="card", track="canary") == 1
    assert sample(telemetry, "payment_probes_total", provider="card", track="baseline") == 1
    with pytest.raises(LabelError, match="missing provider"):
        probes.inc()  # only the track is filled in; other missing labels are still errors


def test_without_a_track_leaving_the_label_out_is_still_a_label_error(spec_path: Path) -> None:
    with pytest.raises(LabelError, match="missing track"):
        fresh_telemetry(spec_path).metric("payment_probes_total").inc(provider="card")
    telemetry = Telemetry.from_file(spec_path, registry=CollectorRegistry(), track="")
    telemetry.metric("payment_probes_total").inc(provider="card")
    assert sample(telemetry, "jobpulse_label_errors_total", metric="payment_probes_total") == 1
