"""MetricsMiddleware: names per preset, bounded labels, skipped paths, 499, streaming and TTFB."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import string
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from jobpulse import Telemetry
from jobpulse.logging import JsonFormatter
from jobpulse.runtime.http import PRESETS, MetricsMiddleware, Preset
from tests.helpers import write_spec

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


# -- an in-process ASGI client: no sockets, full control over receive/send ---------------------------------
@dataclass
class Result:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    error: BaseException | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = [v.decode("latin-1") for k, v in self.headers if k.decode("latin-1").lower() == name.lower()]
        return values[0] if values else None


def scope_for(path: str, method: str = "GET", headers: Iterable[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call(
    app: ASGIApp,
    path: str,
    *,
    method: str = "GET",
    headers: Iterable[tuple[bytes, bytes]] = (),
    receive: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    send_hook: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> Result:
    result = Result()

    async def default_receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if send_hook is not None:
            await send_hook(message)
        result.messages.append(message)
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    try:
        await app(scope_for(path, method, headers), receive or default_receive, send)
    except Exception as exc:
        result.error = exc
    return result


def samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Exposed series by sample name, parsed back from the text format (what Prometheus would see)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return sum(v for lbl, v in samples(registry).get(name, []) if all(lbl.get(k) == x for k, x in labels.items()))


# -- the app under test -----------------------------------------------------------------------------------------
async def user(request: Request) -> Response:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


async def boom(request: Request) -> Response:
    raise RuntimeError("handler exploded")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app() -> Starlette:
    items = Starlette(routes=[Route("/items/{item_id}", user)])
    return Starlette(
        routes=[
            Route("/users/{user_id}", user, methods=["GET", "POST"]),
            Route("/boom", boom),
            Route("/health", health),
            Route("/metrics", health),
            Route("/internal/ping", health),
            Mount("/api/v1", app=items),
        ]
    )


def instrumented(**options: Any) -> tuple[MetricsMiddleware, CollectorRegistry]:
    registry = CollectorRegistry()
    return MetricsMiddleware(make_app(), registry=registry, **options), registry


# -- presets -----------------------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_starlette_exporter_preset_exact_names_and_labels() -> None:
    app, registry = instrumented(preset="starlette_exporter", app_name="shorts")
    assert (await call(app, "/users/7")).status == 200
    found = samples(registry)
    assert set(found) == {
        "starlette_requests_total",
        "starlette_request_duration_seconds_bucket",
        "starlette_request_duration_seconds_sum",
        "starlette_request_duration_seconds_count",
        "starlette_requests_in_progress",
        "starlette_response_body_bytes_total",
        "starlette_request_time_to_first_byte_seconds_bucket",
        "starlette_request_time_to_first_byte_seconds_sum",
        "starlette_request_time_to_first_byte_seconds_count",
    }
    [(labels, count)] = found["starlette_requests_total"]
    assert labels == {"method": "GET", "path": "/users/{user_id}", "status_code": "200", "app_name": "shorts"}
    assert count == 1
    assert found["starlette_requests_in_progress"] == [({"method": "GET", "app_name": "shorts"}, 0.0)]
    assert value(registry, "starlette_response_body_bytes_total") == len(b"user 7")
    assert value(registry, "starlette_request_duration_seconds_bucket", le="+Inf") == 1


@pytest.mark.anyio
async def test_http_preset_matches_prometheus_fastapi_instrumentator_names() -> None:
    app, registry = instrumented(preset="http")
    await call(app, "/users/7")
    await call(app, "/nowhere")
    found = samples(registry)
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_highr_seconds_bucket",
        "http_response_size_bytes_count",
        "http_response_size_bytes_sum",
        "http_requests_inprogress",
    } <= set(found)
    totals = {(lbl["handler"], lbl["status"], lbl["method"]): v for lbl, v in found["http_requests_total"]}
    # status grouped as 2xx/4xx and unmatched paths under handler="none", as the instrumentator does
    assert totals == {("/users/{user_id}", "2xx", "GET"): 1, ("none", "4xx", "GET"): 1}
    assert {tuple(sorted(lbl)) for lbl, _ in found["http_request_duration_seconds_bucket"]} == {
        ("handler", "le", "method")
    }
    assert [lbl for lbl, _ in found["http_request_duration_highr_seconds_count"]] == [{}]
    assert {lbl["le"] for lbl, _ in found["http_request_duration_seconds_bucket"]} == {"0.1", "0.5", "1.0", "+Inf"}


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="starlette_exporter, http"):
        MetricsMiddleware(make_app(), preset="nope", registry=CollectorRegistry())


def test_the_same_registry_can_take_the_middleware_twice() -> None:
    # frameworks may build the middleware stack more than once: no duplicate-registration error
    registry = CollectorRegistry()
    first = MetricsMiddleware(make_app(), registry=registry)
    second = MetricsMiddleware(make_app(), registry=registry)
    assert first.sink is second.sink


# -- labels are bounded ------------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_route_label_stays_bounded_over_100k_random_paths() -> None:
    app, registry = instrumented()
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "-._~%"
    started = time.perf_counter()
    for i in range(100_000):
        if i % 3 == 0:
            path = f"/users/{rng.getrandbits(64):x}"
        elif i % 3 == 1:
            path = f"/api/v1/items/{rng.randrange(10**9)}"
        else:
            parts = ("".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(rng.randint(1, 4)))
            path = "/" + "/".join(parts)
        method = rng.choice(["GET", "POST", "BREW", "get"])
        await call(app, path, method=method)
    assert time.perf_counter() - started < 60
    found = samples(registry)
    paths = {lbl["path"] for lbl, _ in found["starlette_requests_total"]}
    assert paths == {"/users/{user_id}", "/api/v1/items/{item_id}", "__unmatched__"}
    assert {lbl["method"] for lbl, _ in found["starlette_requests_total"]} == {"GET", "POST", "OTHER"}
    assert len(found["starlette_requests_total"]) <= 3 * 3 * 3  # paths x methods x status codes
    assert sum(v for _, v in found["starlette_requests_total"]) == 100_000


@pytest.mark.anyio
async def test_route_templates_past_max_routes_become_other() -> None:
    routes = [Route(f"/r{n}/{{x}}", health) for n in range(10)]
    registry = CollectorRegistry()
    middleware = MetricsMiddleware(Starlette(routes=routes), registry=registry, max_routes=5)
    for n in range(10):
        assert (await call(middleware, f"/r{n}/1")).status == 200
    paths = {lbl["path"] for lbl, _ in samples(registry)["starlette_requests_total"]}
    assert paths == {f"/r{n}/{{x}}" for n in range(5)} | {"__other__"}


# -- mounts and sub-apps: the label is their templates, never the path (issue 18, item 4) ----------------------
async def item(request: Request) -> Response:
    return PlainTextResponse("item")


class Passthrough:
    """A plain ASGI middleware around a sub-app (the route tree is found through its ``app``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def raw_files(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"file"})


def tenant_app() -> Starlette:
    sub = Starlette(routes=[Route("/report/{report_id}", item)])
    shared = Mount("", routes=[Route("/ping", health)])
    return Starlette(
        routes=[
            Route("/users/{user_id}", user),
            Mount("/t/{tenant}", routes=[Route("/items/{item_id}", item)]),
            Mount("/org/{org}", routes=[Mount("/sub/{team}", app=sub)]),
            Mount("/wrapped/{tenant}", app=Passthrough(Starlette(routes=[Route("/x", health)]))),
            Mount("/files/{bucket}", app=raw_files),
            Mount("/a/{region}", routes=[shared]),
            Mount("/b", routes=[shared]),
        ]
    )


HOSTILE = ["acme", "evil\r\nX-Injected: 1", "%0d%0a", "{tenant}", "..", "a" * 300, "\u202e\x00"]


@pytest.mark.anyio
async def test_mount_path_parameters_never_become_labels() -> None:
    """Mount("/t/{tenant}") put the client's segment, CR/LF included, in the label: 500 of them used up the
    route budget and real routes became __other__."""
    logger = logging.getLogger("test.access.mounts")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = ListHandler()
    logger.addHandler(handler)
    registry = CollectorRegistry()
    app = MetricsMiddleware(tenant_app(), registry=registry, access_log=logger)
    try:
        for n in range(600):
            assert (await call(app, f"/t/{HOSTILE[n % len(HOSTILE)]}{n}/items/{n}")).status == 200
        assert (await call(app, "/users/7")).status == 200
    finally:
        logger.removeHandler(handler)
    paths = {lbl["path"] for lbl, _ in samples(registry)["starlette_requests_total"]}
    assert paths == {"/t/{tenant}/items/{item_id}", "/users/{user_id}"}
    assert value(registry, "starlette_requests_total", path="/t/{tenant}/items/{item_id}") == 600
    routes = {json.loads(line)["route"] for line in handler.lines}
    assert routes == {"/t/{tenant}/items/{item_id}", "/users/{user_id}"} and len(handler.lines) == 601


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/org/o{n}/sub/t{n}/report/{n}", "/org/{org}/sub/{team}/report/{report_id}"),  # a sub-app in nested mounts
        ("/wrapped/w{h}/x", "/wrapped/{tenant}/x"),  # a sub-app behind a plain ASGI middleware
        ("/files/b{h}/some/key{n}.txt", "/files/{bucket}/{path}"),  # a raw ASGI app: the mount's own template
        ("/a/eu{h}/ping", "/a/{region}/ping"),  # one router mounted twice: each place its own template
        ("/b/ping", "/b/ping"),
        ("/t/x{h}/nowhere", "/t/{tenant}/{path}"),  # nothing matched inside the mount
    ],
)
async def test_mounts_and_sub_apps_are_labelled_by_their_templates(path: str, template: str) -> None:
    registry = CollectorRegistry()
    app = MetricsMiddleware(tenant_app(), registry=registry)
    for n in range(50):
        await call(app, path.format(h=f"{HOSTILE[n % len(HOSTILE)]}{n}", n=n))
    assert {lbl["path"] for lbl, _ in samples(registry)["starlette_requests_total"]} == {template}


@pytest.mark.anyio
async def test_fastapi_sub_apps_are_labelled_by_their_templates() -> None:
    from fastapi import FastAPI

    sub = FastAPI()

    @sub.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    main = FastAPI()
    main.mount("/tenants/{tenant}", sub)
    registry = CollectorRegistry()
    app = MetricsMiddleware(main, registry=registry)
    for n in range(20):
        assert (await call(app, f"/tenants/evil\r\n{n}/items/{n}")).status == 200
    assert {lbl["path"] for lbl, _ in samples(registry)["starlette_requests_total"]} == {
        "/tenants/{tenant}/items/{item_id}"
    }


@pytest.mark.anyio
async def test_routes_added_later_are_found_and_unknown_ones_under_a_parameter_are_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobpulse.runtime.http import routes

    monkeypatch.setattr(routes, "REINDEX_SECONDS", 0.0)
    starlette = tenant_app()
    registry = CollectorRegistry()
    app = MetricsMiddleware(starlette, registry=registry)
    await call(app, "/users/1")
    starlette.router.routes.append(Mount("/late/{tenant}", routes=[Route("/y", health)]))
    await call(app, "/late/t1/y")

    class Opaque:  # hides its sub-app: no `app`, no `routes`
        def __init__(self) -> None:
            self._inner = Starlette(routes=[Route("/z", health)])

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            await self._inner(scope, receive, send)

    starlette.router.routes.append(Mount("/opaque/{tenant}", app=Opaque()))
    for n in range(20):
        await call(app, f"/opaque/t{n}/z")
    paths = {lbl["path"]: v for lbl, v in samples(registry)["starlette_requests_total"]}
    assert paths == {"/users/{user_id}": 1, "/late/{tenant}/y": 1, "__other__": 20}


@pytest.mark.anyio
async def test_method_and_status_are_bounded_strings() -> None:
    app, registry = instrumented()
    await call(app, "/users/1", method="PROPFIND")
    await call(app, "/users/1", method="DELETE")  # not allowed on the route: 405, route still known
    labels = {(lbl["method"], lbl["status_code"]) for lbl, _ in samples(registry)["starlette_requests_total"]}
    assert labels == {("OTHER", "405"), ("DELETE", "405")}


@pytest.mark.anyio
async def test_mounted_routes_get_the_full_template() -> None:
    app, registry = instrumented()
    await call(app, "/api/v1/items/42")
    assert value(registry, "starlette_requests_total", path="/api/v1/items/{item_id}") == 1


# -- what is skipped -----------------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_metrics_and_health_are_skipped_by_default() -> None:
    app, registry = instrumented()
    for path in ("/metrics", "/health", "/internal/ping"):
        assert (await call(app, path)).status == 200
    assert value(registry, "starlette_requests_total", path="/internal/ping") == 1
    assert value(registry, "starlette_requests_total") == 1


@pytest.mark.anyio
async def test_skip_paths_take_prefixes() -> None:
    app, registry = instrumented(skip_paths=("/internal/*",))
    await call(app, "/internal/ping")
    await call(app, "/metrics")
    assert value(registry, "starlette_requests_total", path="/metrics") == 1
    assert value(registry, "starlette_requests_total", path="/internal/ping") == 0


# -- errors, disconnects, streaming --------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_unhandled_exception_counts_500_and_leaves_nothing_in_progress() -> None:
    app, registry = instrumented()
    result = await call(app, "/boom")
    assert result.status == 500 and isinstance(result.error, RuntimeError)
    assert value(registry, "starlette_requests_total", path="/boom", status_code="500") == 1
    assert value(registry, "starlette_requests_in_progress") == 0


class WaitForDisconnect:
    """A raw ASGI long-poll endpoint: waits for the client, which goes away, and never answers."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


@pytest.mark.anyio
async def test_client_disconnect_is_counted_as_499() -> None:
    registry = CollectorRegistry()
    app = MetricsMiddleware(Starlette(routes=[Route("/poll", WaitForDisconnect())]), registry=registry)
    messages = iter([{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    result = await call(app, "/poll", receive=receive)
    assert (result.status, result.error) == (0, None)
    assert value(registry, "starlette_requests_total", path="/poll", status_code="499") == 1


@pytest.mark.anyio
async def test_disconnect_during_a_stream_is_499() -> None:
    async def forever() -> Any:
        while True:
            yield b"tick\n"
            await asyncio.sleep(0.005)

    async def stream(request: Request) -> Response:
        return StreamingResponse(forever())

    registry = CollectorRegistry()
    app = MetricsMiddleware(Starlette(routes=[Route("/stream", stream)]), registry=registry)
    sent = 0

    async def send_hook(message: dict[str, Any]) -> None:
        nonlocal sent
        sent += 1
        if sent > 5:
            raise OSError("client went away")  # what a server's send does once the socket is closed

    await call(app, "/stream", send_hook=send_hook)
    assert value(registry, "starlette_requests_total", path="/stream", status_code="499") == 1
    assert value(registry, "starlette_requests_total", status_code="200") == 0


@pytest.mark.anyio
async def test_streaming_is_measured_to_the_last_byte_with_ttfb_apart() -> None:
    async def chunks() -> Any:
        await asyncio.sleep(0.05)
        yield b"first"
        await asyncio.sleep(0.2)
        yield b"second"

    async def stream(request: Request) -> Response:
        return StreamingResponse(chunks())

    registry = CollectorRegistry()
    app = MetricsMiddleware(Starlette(routes=[Route("/stream", stream)]), registry=registry)
    result = await call(app, "/stream")
    assert result.body == b"firstsecond"
    duration = value(registry, "starlette_request_duration_seconds_sum", path="/stream")
    ttfb = value(registry, "starlette_request_time_to_first_byte_seconds_sum", path="/stream")
    assert 0.05 <= ttfb < 0.2
    assert duration >= 0.25
    assert value(registry, "starlette_response_body_bytes_total", path="/stream") == len(b"firstsecond")


@pytest.mark.anyio
async def test_background_task_after_the_response_is_not_request_time() -> None:
    async def slow_task() -> None:
        await asyncio.sleep(0.2)

    async def endpoint(request: Request) -> Response:
        from starlette.background import BackgroundTask

        return PlainTextResponse("done", background=BackgroundTask(slow_task))

    registry = CollectorRegistry()
    app = MetricsMiddleware(Starlette(routes=[Route("/bg", endpoint)]), registry=registry)
    await call(app, "/bg")
    assert value(registry, "starlette_request_duration_seconds_sum", path="/bg") < 0.15


@pytest.mark.anyio
async def test_broken_instrumentation_never_breaks_the_request(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenSink:
        def begin(self, method: str) -> None:
            pass

        def record(self, *args: Any) -> None:
            raise RuntimeError("metrics backend broke")

    app = MetricsMiddleware(make_app(), sink=BrokenSink(), registry=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="jobpulse.http"):
        result = await call(app, "/users/3")
    assert (result.status, result.body, result.error) == (200, b"user 3", None)
    assert "jobpulse HTTP metrics failed" in caplog.text


# -- spec catalogue names -------------------------------------------------------------------------------------------
HTTP_SPEC = """\
version: jobpulse/v1
service: {name: api}
metrics:
  - name: api_requests_total
    type: counter
    help: Requests.
    labels:
      method: {values: [GET, POST, OTHER]}
      route: {max_values: 2}
      status_code: {max_values: 10}
  - name: api_request_seconds
    type: histogram
    unit: seconds
    help: Latency.
    labels:
      route: {max_values: 2}
  - name: api_in_flight
    type: gauge
    help: In progress.
"""


@pytest.mark.anyio
async def test_spec_names_with_the_specs_label_bounds(tmp_path: Any) -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry.from_file(write_spec(tmp_path, HTTP_SPEC), registry=registry)
    app = MetricsMiddleware.from_telemetry(
        make_app(),
        telemetry,
        requests="api_requests_total",
        duration="api_request_seconds",
        in_progress="api_in_flight",
    )
    for path in ("/users/1", "/api/v1/items/2", "/nowhere", "/boom"):
        await call(app, path)
    routes = {lbl["route"] for lbl, _ in samples(registry)["api_requests_total"]}
    # a budget of two route values: the third and fourth become __other__ (counted as overflow)
    assert routes == {"/users/{user_id}", "/api/v1/items/{item_id}", "__other__"}
    assert value(registry, "api_requests_total") == 4
    assert value(registry, "api_request_seconds_count") == 4
    assert value(registry, "jobpulse_label_overflow_total", metric="api_requests_total", label="route") == 2
    assert value(registry, "api_in_flight") == 0


def test_spec_metric_with_a_label_the_middleware_cannot_fill(tmp_path: Any) -> None:
    spec = HTTP_SPEC.replace("      method: {values: [GET, POST, OTHER]}", "      tenant: {max_values: 3}")
    telemetry = Telemetry.from_file(write_spec(tmp_path, spec), registry=CollectorRegistry())
    with pytest.raises(ValueError, match="cannot fill label 'tenant'"):
        MetricsMiddleware.from_telemetry(make_app(), telemetry, requests="api_requests_total")
    with pytest.raises(ValueError, match="api_in_flight is a gauge"):
        MetricsMiddleware.from_telemetry(make_app(), telemetry, requests="api_in_flight")


# -- access log -------------------------------------------------------------------------------------------------------
class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.anyio
async def test_access_log_writes_one_json_line_per_request() -> None:
    logger = logging.getLogger("test.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        app, _ = instrumented(access_log=logger)
        await call(app, "/users/5", method="POST")
        await call(app, "/health")  # skipped: no line
    finally:
        logger.removeHandler(handler)
    [line] = handler.lines
    record = json.loads(line)
    assert record["message"] == f"POST /users/{{user_id}} 200 {record['duration_ms']:.1f}ms"
    assert (record["method"], record["route"], record["status_code"]) == ("POST", "/users/{user_id}", 200)
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert record["response_bytes"] == len(b"user 5")


def test_presets_are_frozen_descriptions() -> None:
    assert all(isinstance(p, Preset) for p in PRESETS.values())
    assert {m.measure for m in PRESETS["starlette_exporter"].metrics} == {
        "requests",
        "duration",
        "in_progress",
        "response_size",
        "first_byte",
    }


@pytest.mark.anyio
async def test_fastapi_routes_are_labelled_by_template() -> None:
    import fastapi

    api = fastapi.FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    registry = CollectorRegistry()
    app = MetricsMiddleware(api, registry=registry, preset="http")
    assert (await call(app, "/items/3")).status == 200
    assert (await call(app, "/items/not-a-number")).status == 422
    handlers = {(lbl["handler"], lbl["status"]) for lbl, _ in samples(registry)["http_requests_total"]}
    assert handlers == {("/items/{item_id}", "2xx"), ("/items/{item_id}", "4xx")}


@pytest.mark.anyio
async def test_requests_in_progress_rise_and_fall() -> None:
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return PlainTextResponse("done")

    registry = CollectorRegistry()
    app = MetricsMiddleware(Starlette(routes=[Route("/slow", slow, methods=["GET", "POST"])]), registry=registry)
    calls = [asyncio.create_task(call(app, "/slow", method=m)) for m in ("GET", "GET", "GET", "POST")]
    await asyncio.sleep(0.05)
    assert value(registry, "starlette_requests_in_progress", method="GET") == 3
    assert value(registry, "starlette_requests_in_progress", method="POST") == 1
    assert value(registry, "starlette_requests_total") == 0  # counted when finished
    release.set()
    await asyncio.gather(*calls)
    assert value(registry, "starlette_requests_in_progress") == 0
    assert value(registry, "starlette_requests_total", path="/slow", status_code="200") == 4


def test_the_old_module_path_still_works() -> None:
    """The middleware moved to jobpulse.runtime.http; jobpulse.runtime.middleware re-exports it."""
    from jobpulse.runtime import http, middleware

    for name in middleware.__all__:
        assert getattr(middleware, name) is getattr(http, name)
    assert {"MetricsMiddleware", "PRESETS", "Preset", "HttpMetric", "DEFAULT_SKIP_PATHS"} <= set(middleware.__all__)
