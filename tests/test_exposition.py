"""The /metrics ASGI app: formats, token, methods, off-loop rendering."""

from __future__ import annotations

import gzip

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from jobpulse.runtime.exposition import MetricsApp


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_jobs", "Jobs.", ["queue"], registry=registry).labels("a").inc(3)
    return registry


async def _get(app: MetricsApp, method: str = "GET", **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, "/metrics", headers=headers)


@pytest.mark.anyio
async def test_prometheus_text_by_default() -> None:
    response = await _get(MetricsApp(_registry()))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'demo_jobs_total{queue="a"} 3.0' in response.text


@pytest.mark.anyio
async def test_openmetrics_on_negotiation() -> None:
    response = await _get(MetricsApp(_registry()), accept="application/openmetrics-text; version=1.0.0")
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


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
async def test_gzip_when_accepted() -> None:
    transport = httpx.ASGITransport(app=MetricsApp(_registry()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        request = client.build_request("GET", "/metrics", headers={"accept-encoding": "gzip"})
        response = await client.send(request, stream=True)
        raw = await response.aread()
        assert response.headers["content-encoding"] == "gzip"
        # httpx decodes gzip transparently; the decoded text is the exposition
        assert b"demo_jobs_total" in raw or b"demo_jobs_total" in gzip.decompress(raw)


@pytest.mark.anyio
async def test_head_and_other_methods() -> None:
    app = MetricsApp(_registry())
    head = await _get(app, "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    assert (await _get(app, "POST")).status_code == 405


@pytest.mark.anyio
async def test_rendering_happens_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import jobpulse.runtime.exposition as exposition

    seen: list[bool] = []
    original = exposition.choose_encoder

    def spy(accept: str):  # type: ignore[no-untyped-def]
        encoder, content_type = original(accept)

        def encode(registry: CollectorRegistry) -> bytes:
            seen.append(threading.current_thread() is threading.main_thread())
            return encoder(registry)

        return encode, content_type

    monkeypatch.setattr(exposition, "choose_encoder", spy)
    await _get(MetricsApp(_registry()))
    assert seen == [False]
