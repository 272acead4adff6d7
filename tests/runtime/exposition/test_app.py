"""The /metrics ASGI app: formats, compression, the name[] filter, the token, methods, off-loop rendering."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app

from jobpulse.runtime.exposition import MetricsApp, Renderer


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_jobs", "Jobs.", ["queue"], registry=registry).labels("a").inc(3)
    Gauge("demo_depth", "Queue depth.", registry=registry).set(7)
    histogram = Histogram("demo_seconds", "Latency.", ["route"], buckets=(0.1, 1.0), registry=registry)
    histogram.labels("/x").observe(0.5)
    return registry


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    raw: bytes  # the body as sent

    @property
    def content(self) -> bytes:
        return gzip.decompress(self.raw) if self.headers.get("content-encoding") == "gzip" else self.raw

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


async def _get(app: Any, method: str = "GET", path: str = "/metrics", **headers: str) -> Response:
    """One request straight through ASGI (no server): status, headers, and the body exactly as sent."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": target,
        "query_string": query.encode(),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    start: dict[str, Any] = {}
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    names = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Response(start["status"], names, b"".join(body))


def _raw(response: Response) -> bytes:
    return response.raw


@pytest.mark.anyio
async def test_prometheus_text_by_default() -> None:
    response = await _get(MetricsApp(_registry()))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'demo_jobs_total{queue="a"} 3.0' in response.text


@pytest.mark.anyio
async def test_openmetrics_on_negotiation() -> None:
    response = await _get(MetricsApp(_registry()), accept="application/openmetrics-text; version=1.0.0")
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("# EOF\n")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"},
        {"accept-encoding": "gzip"},
        {"accept": "application/openmetrics-text; version=1.0.0", "accept-encoding": "gzip, deflate"},
        {"accept": "text/plain; version=1.0.0; escaping=allow-utf-8"},
    ],
)
async def test_same_response_as_prometheus_client_app(headers: dict[str, str]) -> None:
    """Status, Content-Type, Content-Encoding and the (decompressed) body of make_asgi_app."""
    registry = _registry()
    ours = await _get(MetricsApp(registry), **headers)
    theirs = await _get(make_asgi_app(registry), **headers)
    assert ours.status_code == theirs.status_code == 200
    assert ours.headers["content-type"] == theirs.headers["content-type"]
    assert ours.headers.get("content-encoding") == theirs.headers.get("content-encoding")
    assert ours.content == theirs.content  # decompressed


@pytest.mark.anyio
async def test_gzip_at_the_chosen_level_when_accepted() -> None:
    registry = _registry()
    app = MetricsApp(registry)
    response = await _get(app, **{"accept_encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    body = _raw(response)
    assert body[:2] == b"\x1f\x8b"
    assert body[8] == 4  # XFL: the "fastest" flag zlib writes for level 1
    assert int(response.headers["content-length"]) == len(body)
    assert gzip.decompress(body) == Renderer(registry).render()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept_encoding", "compressed"),
    [("gzip;q=0", False), ("identity", False), ("br, gzip;q=0.5", True), ("*", True), ("*;q=0", False)],
)
async def test_accept_encoding_is_honoured(accept_encoding: str, compressed: bool) -> None:
    response = await _get(MetricsApp(_registry()), **{"accept_encoding": accept_encoding})
    assert ("content-encoding" in response.headers) is compressed
    assert "Accept-Encoding" in response.headers["vary"]


@pytest.mark.anyio
async def test_gzip_level_zero_never_compresses() -> None:
    response = await _get(MetricsApp(_registry(), gzip_level=0), **{"accept_encoding": "gzip"})
    assert "content-encoding" not in response.headers
    with pytest.raises(ValueError, match="gzip_level"):
        MetricsApp(_registry(), gzip_level=10)


@pytest.mark.anyio
async def test_an_unchanged_body_is_not_compressed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import jobpulse.runtime.exposition.app as app_module

    calls: list[int] = []
    real = app_module.zlib.compress

    def counting(data: bytes, level: int, wbits: int) -> bytes:
        calls.append(len(data))
        return real(data, level, wbits)

    monkeypatch.setattr(app_module.zlib, "compress", counting)
    registry = _registry()
    app = MetricsApp(registry)
    first = _raw(await _get(app, **{"accept_encoding": "gzip"}))
    second = _raw(await _get(app, **{"accept_encoding": "gzip"}))
    assert first == second and len(calls) == 1
    Gauge("demo_new", "New.", registry=registry).set(1)
    third = _raw(await _get(app, **{"accept_encoding": "gzip"}))
    assert len(calls) == 2 and b"demo_new 1.0" in gzip.decompress(third)


@pytest.mark.anyio
async def test_name_filter() -> None:
    app = MetricsApp(_registry())
    response = await _get(app, path="/metrics?name[]=demo_depth&name[]=demo_seconds_count")
    assert response.text.splitlines() == [
        "# HELP demo_depth Queue depth.",
        "# TYPE demo_depth gauge",
        "demo_depth 7.0",
        "# HELP demo_seconds Latency.",
        "# TYPE demo_seconds histogram",
        'demo_seconds_count{route="/x"} 1.0',
    ]
    too_many = "&".join(f"name[]=m{i}" for i in range(1001))
    refused = await _get(app, path=f"/metrics?{too_many}")
    assert refused.status_code == 400


# -- the token --------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_token_required() -> None:
    app = MetricsApp(_registry(), token="s3cret")
    assert (await _get(app)).status_code == 401
    denied = await _get(app, authorization="Bearer wrong")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert "demo_jobs" not in denied.text
    assert (await _get(app, authorization="Bearer s3cret")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("header", ["bearer s3cret", "BEARER s3cret", "BeArEr s3cret", "Bearer   s3cret"])
async def test_bearer_scheme_matched_case_insensitively(header: str) -> None:
    assert (await _get(MetricsApp(_registry(), token="s3cret"), authorization=header)).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Bearers3cret", "Basic s3cret", "s3cret", "Bearer s3cret extra", "Bearer S3CRET"]
)
async def test_anything_else_is_refused(header: str) -> None:
    assert (await _get(MetricsApp(_registry(), token="s3cret"), authorization=header)).status_code == 401


@pytest.mark.parametrize("token", ["", " ", "\t\n"])
def test_an_empty_token_is_a_configuration_error(token: str) -> None:
    """An unset METRICS_TOKEN (``""``) must not serve /metrics to everyone: construction fails, saying why."""
    with pytest.raises(ValueError, match="token is empty"):
        MetricsApp(_registry(), token=token)


def test_every_way_to_build_the_app_refuses_an_empty_token(tmp_path: Any) -> None:
    from jobpulse.runtime import multiprocess
    from jobpulse.runtime.metrics import Telemetry
    from jobpulse.spec.load import load_spec

    spec = load_spec("examples/preview_jobs/jobpulse.yaml")
    with pytest.raises(ValueError, match="token is empty"):
        Telemetry(spec, registry=CollectorRegistry()).metrics_app(token="")
    with pytest.raises(ValueError, match="token is empty"):
        multiprocess.metrics_app(tmp_path, token="")


@pytest.mark.parametrize("token", ["two words", "line\nbreak", " padded"])
def test_a_token_with_spaces_or_control_characters_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match=r"spaces or control characters|token is empty"):
        MetricsApp(_registry(), token=token)


# -- methods, threads --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_head_and_other_methods() -> None:
    app = MetricsApp(_registry())
    head = await _get(app, "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert (await _get(app, "POST")).status_code == 405


@pytest.mark.anyio
async def test_rendering_happens_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    original = Renderer.render

    def spy(self: Renderer, *args: Any, **kwargs: Any) -> bytes:
        seen.append(threading.current_thread() is threading.main_thread())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Renderer, "render", spy)
    await _get(MetricsApp(_registry()))
    assert seen == [False]
