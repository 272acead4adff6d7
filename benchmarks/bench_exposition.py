"""A /metrics scrape: jobpulse's renderer and MetricsApp vs. prometheus_client's generate_latest and ASGI app.

What is measured is the CPU time of one scrape (all threads of the process: MetricsApp renders in a worker
thread), for registries of 10, 2,000 and 20,000 histogram children (the preview spec's 13 buckets; 2,000
children expose 36,000 lines), in the Prometheus text format and in OpenMetrics, with and without gzip.
Before every scrape each child observes one new value, outside the timed region: every child has changed,
which is the worst case for a renderer that redoes only what changed (a table below shows the other end,
nothing changed). Side by side in one run, on the same registry: prometheus_client's ``make_asgi_app``
(the baseline: what a service exposes), its ``generate_latest`` (plus ``gzip.compress`` when gzipped, as its
app does), jobpulse's ``MetricsApp`` and its ``Renderer`` alone (plus zlib at MetricsApp's level). The ASGI
apps are called in-process (a fake ``receive``/``send``, one long-lived event loop) with Prometheus' own
``Accept`` and ``Accept-Encoding`` headers, or none. Tables of 20,000 children have 3 rounds (one
prometheus_client scrape takes seconds), the others 9.

Request latency during a scrape: one service (Starlette on uvicorn, in this process) serves ``/ping`` and
both apps' ``/metrics`` over a 2,000-children registry. A client in another process (its own GIL) asks the
service to change every child, starts a Prometheus-like scrape, and sends pings one after another until the
scrape's response is complete; the table gives the latency of those pings, and of pings with no scrape.
prometheus_client's app renders on the event loop, so a ping waits for the whole render; MetricsApp renders
in a worker thread, and the ping only competes with it for the GIL — less so when the render releases the
GIL every half millisecond (MetricsApp's default; a third row shows it without).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import Bench, Result, Section, Variant, competing_share, fmt_ns, intro, main, measure, settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, make_asgi_app
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from jobpulse.runtime import _client_internals as internals
from jobpulse.runtime.exposition import GZIP_LEVEL, OPENMETRICS, TEXT, MetricsApp, Renderer

BUCKETS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000, 600000, 1200000)
NAME = "preview_generation_job_duration_ms"
PLAIN: list[tuple[bytes, bytes]] = []
PROMETHEUS_ACCEPT = (
    b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SIZES = (10, 2000, 20000)
TARGET = 0.2  # issue 15: a Prometheus-like scrape of 2,000 histogram children at most 0.2x prometheus_client's CPU
App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[Any], Awaitable[None]]], Any]


def registry(children: int) -> CollectorRegistry:
    reg = CollectorRegistry()
    labels = ["scenario", "outcome"]
    hist = Histogram(NAME, "End-to-end job latency in milliseconds.", labels, buckets=BUCKETS, registry=reg)
    for i in range(children):
        child = hist.labels(f"scenario-{i // 2:04d}", "ready" if i % 2 == 0 else "failed")
        for v in (80, 300, 900, 4000, 70000):
            child.observe(v + i)
    return reg


def churner(reg: CollectorRegistry) -> Callable[[], None]:
    """Observe one new value in every child (what a busy service does between two scrapes)."""
    hist = internals.registered(reg, NAME)
    observers = [internals.observer(child) for _, child in internals.children(hist)]
    tick = [0]

    def churn() -> None:
        tick[0] += 1
        value = float(tick[0] % 5000 * 97)
        for observe in observers:
            observe(value)  # type: ignore[misc]

    return churn


def headers(fmt: str, compressed: bool) -> list[tuple[bytes, bytes]]:
    out = [(b"accept", PROMETHEUS_ACCEPT)] if fmt == "openmetrics" else []
    return [*out, (b"accept-encoding", b"gzip")] if compressed else out


async def scrape(app: App, request_headers: list[tuple[bytes, bytes]]) -> bytes:
    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": request_headers}
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            body.append(message["body"])

    await app(scope, receive, send)
    return b"".join(body)


def cpu_bench(op: Callable[[], object], before: Callable[[], None] | None) -> Bench:
    """``number`` operations; the process CPU time (every thread) they took, ``before()`` untimed each time."""

    def bench(number: int) -> int:
        was = gc.isenabled()
        gc.disable()
        total = 0
        try:
            for _ in range(number):
                if before is not None:
                    before()
                start = time.process_time_ns()
                op()
                total += time.process_time_ns() - start
            return total
        finally:
            if was:
                gc.enable()

    return bench


def variants(
    loop: asyncio.AbstractEventLoop,
    reg: CollectorRegistry,
    fmt: str,
    compressed: bool,
    churn: Callable[[], None] | None,
) -> list[Variant]:
    request = headers(fmt, compressed)
    stock_encoder = openmetrics_latest if fmt == "openmetrics" else generate_latest
    ours_format = OPENMETRICS if fmt == "openmetrics" else TEXT

    def asgi(make: Callable[[], App]) -> Callable[[], Bench]:
        def build() -> Bench:
            app = make()
            return cpu_bench(lambda: loop.run_until_complete(scrape(app, request)), churn)

        return build

    def stock() -> Bench:
        if compressed:
            return cpu_bench(lambda: gzip.compress(stock_encoder(reg)), churn)
        return cpu_bench(lambda: stock_encoder(reg), churn)

    def ours() -> Bench:
        renderer = Renderer(reg)
        if compressed:
            return cpu_bench(lambda: zlib.compress(renderer.render(ours_format), GZIP_LEVEL, wbits=31), churn)
        return cpu_bench(lambda: renderer.render(ours_format), churn)

    return [
        Variant("prometheus_client make_asgi_app", asgi(lambda: make_asgi_app(reg)), baseline=True),
        Variant("prometheus_client generate_latest" + (" + gzip.compress" if compressed else ""), stock),
        Variant("jobpulse MetricsApp", asgi(lambda: MetricsApp(reg))),
        Variant("jobpulse Renderer.render" + (f" + zlib level {GZIP_LEVEL}" if compressed else ""), ours),
    ]


def _label(fmt: str, compressed: bool) -> str:
    name = "OpenMetrics" if fmt == "openmetrics" else "text 0.0.4"
    return f"{name}, gzip" if compressed else name


def gzip_levels(body: bytes, repeat: int) -> list[list[str]]:
    """Size and CPU time of each zlib level on one scrape body; prometheus_client's app uses level 9."""
    rows = []
    for level in range(1, 10):
        times = []
        for _ in range(repeat):
            start = time.process_time_ns()
            size = len(zlib.compress(body, level, wbits=31))
            times.append(time.process_time_ns() - start)
        note = " (MetricsApp)" if level == GZIP_LEVEL else " (prometheus_client, gzip.compress)" if level == 9 else ""
        cpu = fmt_ns(statistics.median(times))
        rows.append([f"{level}{note}", f"{size / 1e3:,.0f} kB", f"{len(body) / size:.1f}×", cpu])
    return rows


# -- request latency during a scrape --------------------------------------------------------------------------


def latency(children: int, rounds: int) -> tuple[list[list[str]], dict[str, float]]:
    """Ping latency while each app is scraped, measured by a client in another process."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    reg = registry(children)
    pings = Counter("bench_pings", "Pings served.", registry=reg)
    churn = churner(reg)

    async def ping(request: Any) -> PlainTextResponse:
        pings.inc()
        return PlainTextResponse("pong")

    async def change(request: Any) -> PlainTextResponse:
        churn()
        return PlainTextResponse("changed")

    apps = {
        "/stock/": "prometheus_client make_asgi_app",
        "/steady/": "jobpulse MetricsApp, GIL never released (release_gil_every=None)",
        "/jobpulse/": "jobpulse MetricsApp",
    }
    service = Starlette(
        routes=[
            Route("/ping", ping),
            Route("/churn", change),
            Mount("/stock", app=make_asgi_app(reg)),
            Mount("/steady", app=MetricsApp(reg, release_gil_every=None)),
            Mount("/jobpulse", app=MetricsApp(reg)),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(service, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        client = Path(__file__).with_name("_latency_client.py")
        run = subprocess.run(
            [sys.executable, str(client), str(port), str(rounds), *apps],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    data = json.loads(run.stdout)

    def pct(values: list[int], q: float) -> float:
        ordered = sorted(values)
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])

    rows = []
    idle = data["idle"]
    quiet = [fmt_ns(pct(idle, 0.5)), fmt_ns(pct(idle, 0.99)), fmt_ns(max(idle))]
    rows.append(["no scrape running", f"{len(idle):,}", *quiet, "–"])
    p99: dict[str, float] = {"idle": pct(idle, 0.99)}
    for path, name in apps.items():
        during = data["during"][path]
        p99[path] = pct(during, 0.99)
        rows.append(
            [
                f"during a scrape by {name}",
                f"{len(during):,}",
                fmt_ns(pct(during, 0.5)),
                fmt_ns(p99[path]),
                fmt_ns(max(during)),
                fmt_ns(statistics.median(data["scrapes"][path])),
            ]
        )
    return rows, p99


def run(quick: bool = False) -> Section:
    """/metrics scrape: CPU per scrape side by side, gzip levels, and request latency during a scrape."""
    options = settings(quick)
    sizes = (10, 2000) if quick else SIZES
    loop = asyncio.new_event_loop()
    tables: list[list[Result]] = []
    captions: list[str] = []
    by_key: dict[tuple[int, str, bool], list[Result]] = {}
    try:
        for children in sizes:
            reg = registry(children)
            churn = churner(reg)
            rounds = options["rounds"] if children <= 2000 else 3
            for fmt in ("text", "openmetrics"):
                for compressed in (False, True):
                    contenders = variants(loop, reg, fmt, compressed, churn)
                    results = measure(contenders, rounds=rounds, batch_seconds=options["batch_seconds"])
                    by_key[(children, fmt, compressed)] = results
                    tables.append(results)
                    captions.append(f"{children:,} histogram children, {_label(fmt, compressed)}, every child changed")
        reg = registry(2000)
        unchanged = measure(variants(loop, reg, "openmetrics", True, None), **options)
        tables.append(unchanged)
        captions.append("2,000 histogram children, OpenMetrics, gzip, nothing changed since the last scrape")
        body = openmetrics_latest(reg)
    finally:
        loop.close()
    level_rows = gzip_levels(body, 3 if quick else 7)
    latency_rows, p99 = latency(2000, 5 if quick else 30)

    key = by_key[(2000, "openmetrics", True)]
    app_ratio = key[2].ratio
    render_ratio = key[3].ns_per_op / key[1].ns_per_op
    verdict = "meets" if app_ratio <= TARGET else "misses"
    p99_ratio = p99["/stock/"] / p99["/jobpulse/"]
    rows_20k = (
        "; ".join(
            f"{_label(f, c)}: {by_key[(20000, f, c)][2].ratio:.2f}×"
            for f in ("text", "openmetrics")
            for c in (False, True)
        )
        if (20000, "text", False) in by_key
        else "not run (--quick)"
    )
    small = by_key[(10, "text", False)]
    reading = (
        f"A Prometheus-like scrape (OpenMetrics, gzip) of 2,000 histogram children, every child changed, takes "
        f"{fmt_ns(key[0].ns_per_op)} of CPU with prometheus_client's app and {fmt_ns(key[2].ns_per_op)} with "
        f"MetricsApp: {app_ratio:.2f}× ({verdict} the target of ≤ {TARGET}×). The renderer alone, with zlib at level "
        f"{GZIP_LEVEL}, is {render_ratio:.2f}× `generate_latest` + `gzip.compress`; when nothing changed between two "
        f"scrapes MetricsApp takes {unchanged[2].ratio:.2f}× (the last compressed body is reused). On 20,000 children, "
        f"MetricsApp's share of prometheus_client's CPU is {rows_20k}. On 10 children it is {small[2].ratio:.2f}× "
        f"(text), most of it the hop to a worker thread: the renderer alone takes {small[3].ratio:.2f}×. "
        f"Compression: level "
        f"{GZIP_LEVEL} writes a body {level_rows[GZIP_LEVEL - 1][2]} smaller than the text in "
        f"{level_rows[GZIP_LEVEL - 1][3]}, level 9 (prometheus_client's) {level_rows[8][2]} in {level_rows[8][3]}. "
        f"While a scrape runs, a small request served by the same process waits {fmt_ns(p99['/stock/'])} (p99) "
        f"under prometheus_client's app, which renders on the event loop, and {fmt_ns(p99['/jobpulse/'])} under "
        f"MetricsApp ({p99_ratio:.0f}× shorter; {fmt_ns(p99['idle'])} with no scrape running). Without releasing "
        f"the GIL every half millisecond while it renders, MetricsApp's p99 is {fmt_ns(p99['/steady/'])}."
    )
    share = competing_share()
    if share is not None and share >= 0.15:
        reading += (
            f" Other processes took {share:.0%} of the machine's CPU during this run: CPU times are this process's "
            "own and the ratios come from interleaved rounds, but the latencies (even with no scrape running) "
            "include waiting for a CPU."
        )
    return Section(
        key="exposition",
        title="Exposition: a /metrics scrape",
        intro=intro(__doc__),
        results=tables,
        captions=captions,
        extra_tables=[
            (
                "zlib level on one scrape (2,000 histogram children, OpenMetrics, "
                f"{len(body) / 1e6:.1f} MB), median CPU time of {3 if quick else 7} runs",
                ["level", "gzipped size", "smaller by", "CPU time"],
                level_rows,
            ),
            (
                "Latency of a small request (GET /ping) served by the same process during a Prometheus-like scrape "
                "of 2,000 changed histogram children",
                ["requests", "count", "p50", "p99", "max", "scrape time (median, as the client saw it)"],
                latency_rows,
            ),
        ],
        reading=reading,
    )


if __name__ == "__main__":
    main(run)
