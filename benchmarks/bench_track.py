"""What the rollout track label costs: the same work with and without ``track`` on the metrics, in one run.

A process serving one side of a rollout says so once (``Telemetry(track="canary")`` or ``JOBPULSE_TRACK``) and
every metric that declares the rollout's label gets it (docs/canary.md). Three hot paths are measured, each on
two copies of one spec that differ only in whether the metrics declare ``track``: one job lifecycle through the
tracker (enqueue → start → succeed, three metrics), one GET through ``MetricsMiddleware.from_telemetry``
(requests, duration, in progress), and ``Instrument.labels(...).inc()`` on an app's own counter. The baseline
of each is the spec without the label; the other rows are the label filled from the setting and the way to
label a track without it (the track as a job attribute on every enqueue, ``constant_labels=``, or the label
passed on every call). Times are CPU time of the benchmark process (``time.process_time_ns``), medians of 9
interleaved rounds.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import Bench, Result, Section, Variant, intro, main, measure, settings
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jobpulse.runtime.http import MetricsMiddleware
from jobpulse.runtime.metrics import Telemetry
from jobpulse.spec.load import load_spec_text
from jobpulse.spec.model import Spec

TRACK = "      track: {values: [baseline, canary]}\n"
SPEC = """\
version: jobpulse/v1
service: {name: shop}
metrics:
  - name: orders_total
    type: counter
    help: Orders enqueued.
    labels:
      kind: {values: [standard, express]}
<track>  - name: orders_done_total
    type: counter
    help: Orders finished.
    labels:
      kind: {values: [standard, express]}
      outcome: {values: [ok, error]}
<track>  - name: order_seconds
    type: histogram
    unit: seconds
    help: Order duration.
    labels:
      outcome: {values: [ok, error]}
<track>    buckets: [0.1, 1, 10]
  - name: http_requests_total
    type: counter
    help: Requests.
    labels:
      method: {values: [GET, POST, OTHER]}
      route: {max_values: 20}
      status: {max_values: 20}
<track>  - name: http_request_seconds
    type: histogram
    unit: seconds
    help: Latency.
    labels:
      route: {max_values: 20}
<track>  - name: http_in_flight
    type: gauge
    help: In progress.
    labels:
      method: {values: [GET, POST, OTHER]}
<track>  - name: payment_probes_total
    type: counter
    help: Probes.
    labels:
      provider: {values: [card, wallet]}
<track>jobs:
  - name: order
    attributes: <attributes>
    outcomes: {success: ok, failure: error}
    metrics: {enqueued: orders_total, completed: orders_done_total, duration: order_seconds}
"""


def spec(track: bool, attribute: bool = False) -> Spec:
    text = SPEC.replace("<track>", TRACK if track else "")
    return load_spec_text(text.replace("<attributes>", "[kind, track]" if attribute else "[kind]"))


PLAIN, LABELLED, ATTRIBUTE = spec(False), spec(True), spec(True, attribute=True)


def cpu_loop(op: Callable[[], object]) -> Bench:
    """Like the harness's ``loop_op``, timed in CPU time of this process (``process_time_ns``): the differences
    measured here are small, and on a shared machine wall time mostly measures the neighbours."""

    def bench(number: int) -> int:
        it = itertools.repeat(None, number)
        gc.disable()
        try:
            start = time.process_time_ns()
            for _ in it:
                op()
            return time.process_time_ns() - start
        finally:
            gc.enable()

    return bench


def cpu_loop_async(loop: asyncio.AbstractEventLoop, op: Callable[[], Awaitable[object]]) -> Bench:
    async def many(number: int) -> None:
        for _ in range(number):
            await op()

    def bench(number: int) -> int:
        gc.disable()
        try:
            start = time.process_time_ns()
            loop.run_until_complete(many(number))
            return time.process_time_ns() - start
        finally:
            gc.enable()

    return bench


def telemetry(model: Spec, track: str = "") -> Telemetry:
    return Telemetry(model, registry=CollectorRegistry(), track=track)


# -- the tracker ----------------------------------------------------------------------------------------------------
def lifecycle(name: str, model: Spec, track: str = "", *, attribute: bool = False, baseline: bool = False) -> Variant:
    def make() -> Bench:
        tracker = telemetry(model, track).job("order")
        enqueue = tracker.enqueue
        ids = iter(range(10**12))
        named = {"kind": "standard", "track": "canary"} if attribute else {"kind": "standard"}

        def op() -> None:
            job = enqueue(str(next(ids)), **named)
            job.start()
            job.succeed()

        return cpu_loop(op)

    return Variant(name, make, baseline=baseline)


# -- the HTTP middleware --------------------------------------------------------------------------------------------
async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/hello",
    "raw_path": b"/hello",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"testserver")],
    "client": ("127.0.0.1", 50000),
    "server": ("testserver", 80),
}
_loop = asyncio.new_event_loop()


def request(name: str, model: Spec, track: str = "", *, constant: bool = False, baseline: bool = False) -> Variant:
    def make() -> Bench:
        app = MetricsMiddleware.from_telemetry(
            Starlette(routes=[Route("/hello", hello)]),
            telemetry(model, track),
            requests="http_requests_total",
            duration="http_request_seconds",
            in_progress="http_in_flight",
            constant_labels={"track": "canary"} if constant else None,
        )

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        async def one() -> None:
            await app(dict(SCOPE), receive, send)

        return cpu_loop_async(_loop, one)

    return Variant(name, make, baseline=baseline)


# -- Instrument.labels ----------------------------------------------------------------------------------------------
def probe(name: str, model: Spec, track: str = "", *, explicit: bool = False, baseline: bool = False) -> Variant:
    def make() -> Bench:
        labels = telemetry(model, track).metric("payment_probes_total").labels
        given = {"provider": "card", "track": "canary"} if explicit else {"provider": "card"}

        def op() -> None:
            labels(**given).inc()

        return cpu_loop(op)

    return Variant(name, make, baseline=baseline)


def _versus(result: Result, base: Result) -> str:
    """How ``result`` compares with ``base``: the ratio, the difference, and whether the rounds could explain it."""
    spread = max(base.high - base.low, result.high - result.low)
    difference = result.ns_per_op - base.ns_per_op
    within = "within" if abs(difference) <= spread else "beyond"
    return f"{result.ratio:.2f}× the time without the label ({difference:+,.0f} ns, {within} the rounds' spread)"


def run(quick: bool = False) -> Section:
    """The rollout track label: tracker, middleware and Instrument.labels with and without it."""
    options = settings(quick)
    tracker = measure(
        [
            lifecycle("metrics without a track label", PLAIN, baseline=True),
            lifecycle('track from Telemetry(track="canary")', LABELLED, "canary"),
            lifecycle("track as a job attribute on every enqueue", ATTRIBUTE, attribute=True),
        ],
        **options,
    )
    middleware = measure(
        [
            request("metrics without a track label", PLAIN, baseline=True),
            request('track from Telemetry(track="canary")', LABELLED, "canary"),
            request('constant_labels={"track": "canary"}', LABELLED, constant=True),
        ],
        **options,
    )
    labels = measure(
        [
            probe("labels(provider=…) without a track label", PLAIN, baseline=True),
            probe('labels(provider=…), track from Telemetry(track="canary")', LABELLED, "canary"),
            probe("labels(provider=…, track=…) given on every call", LABELLED, explicit=True),
        ],
        **options,
    )
    reading = (
        f"Filled from the setting, a job lifecycle takes {_versus(tracker[1], tracker[0])} and a request "
        f"{_versus(middleware[1], middleware[0])}: the value is bound into the cached children the first time an "
        f"attribute combination or a route is seen, so the per-job and per-request code is the same with or "
        f"without it. Without the setting, the track as a job attribute on every enqueue (one more keyword to "
        f"look up) takes {_versus(tracker[2], tracker[0])}, and `constant_labels=` (the mechanism the setting "
        f"uses) {_versus(middleware[2], middleware[0])}. The one place the setting costs anything is an app's own "
        f"`labels(provider=…)` that leaves the track out, where the label is added to the keywords before the "
        f"lookup: {_versus(labels[1], labels[0])}; passing it on every call takes {_versus(labels[2], labels[0])}."
    )
    return Section(
        key="track",
        title="Rollout track label: with and without it",
        intro=intro(__doc__),
        results=[tracker, middleware, labels],
        captions=[
            "One job lifecycle (enqueue → start → succeed) through the tracker",
            "One GET /hello through MetricsMiddleware.from_telemetry (requests, duration, in progress)",
            "Instrument.labels(...).inc() on an app's own counter",
        ],
        reading=reading,
    )


if __name__ == "__main__":
    main(run)
