"""The status page over HTTP: public JSON/HTML/Atom, Statuspage's summary.json, the webhook's and API's guards."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jobpulse.runtime.health import CallableCheck, HealthChecker
from jobpulse.status import StatusApp, StatusService
from tests.status.helpers import TOKEN, alert, payload, spec

pytestmark = pytest.mark.anyio
HOOK = "/status/webhook/alertmanager"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[StatusService]:
    svc = StatusService(spec(), tmp_path / "status.db")
    yield svc
    svc.close()


@pytest.fixture
async def client(service: StatusService) -> AsyncIterator[httpx.AsyncClient]:
    app = StatusApp(service, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://status.test") as c:
        yield c


async def _counts(client: httpx.AsyncClient) -> tuple[int, int]:
    current = (await client.get("/status/incidents")).json()["incidents"]
    history = (await client.get("/status/history")).json()["incidents"]
    return len(current), len(history)


async def test_webhook_opens_an_incident_shown_in_every_view(client: httpx.AsyncClient) -> None:
    response = await client.post(HOOK, json=payload(alert("ApiDown")), headers=AUTH)
    assert response.status_code == 200 and response.json()["action"] == "opened"
    incident_id = response.json()["incident_id"]

    current = (await client.get("/status/incidents")).json()["incidents"]
    assert [i["id"] for i in current] == [incident_id]
    assert current[0]["status"] == "investigating" and current[0]["impact"] == "critical"
    assert current[0]["components"] == [{"id": "api", "name": "API", "status": "major_outage"}]

    summary = (await client.get("/status/api/v2/summary.json")).json()
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert {c["id"]: c["status"] for c in summary["components"]} == {"api": "major_outage", "workers": "operational"}
    update = summary["incidents"][0]["incident_updates"][0]
    assert set(update) >= {"id", "status", "body", "created_at", "display_at", "affected_components"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", summary["page"]["updated_at"])
    assert summary["page"]["url"] == "https://status.example.com/status"
    unresolved = (await client.get("/status/api/v2/incidents/unresolved.json")).json()
    assert [i["id"] for i in unresolved["incidents"]] == [incident_id]

    html = (await client.get("/status")).text
    assert "Major outage" in html and "ApiDown summary" in html and "Major System Outage" in html

    resolved = payload({**alert("ApiDown"), "status": "resolved", "endsAt": "2026-12-06T10:10:00Z"})
    assert (await client.post(HOOK, json=resolved, headers=AUTH)).json()["action"] == "resolved"
    assert await _counts(client) == (0, 1)
    history = (await client.get("/status/history")).json()
    assert history["incidents"][0]["id"] == incident_id and history["incidents"][0]["resolved_at"]
    api = next(c for c in history["components"] if c["id"] == "api")
    assert len(api["days"]) == 90 and api["days"][-1]["status"] == "major_outage"
    summary = (await client.get("/status/api/v2/summary.json")).json()
    assert summary["status"]["indicator"] == "none" and summary["incidents"] == []

    feed = ET.fromstring((await client.get("/status/feed.atom")).content)  # noqa: S314 - our own feed
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)] == ["ApiDown summary"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}, {"authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
async def test_writes_without_the_token_get_401_and_change_nothing(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path, body in [
        (HOOK, payload(alert("ApiDown"))),
        ("/status/api/incidents", {"name": "x", "body": "y", "components": {"api": "major_outage"}}),
        ("/status/api/maintenances", {"name": "m", "components": ["api"], "scheduled_for": "2026-01-01T00:00:00Z",
                                      "scheduled_until": "2026-01-01T01:00:00Z"}),
    ]:  # fmt: skip
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert await _counts(client) == (0, 0)
    assert (await client.get("/status/api/v2/scheduled-maintenances.json")).json()["scheduled_maintenances"] == []


async def test_without_a_configured_token_every_write_is_refused(service: StatusService) -> None:
    app = StatusApp(service, token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.post(HOOK, json=payload(alert()), headers={"authorization": "Bearer "})).status_code == 401
        assert (await c.post(HOOK, json=payload(alert()), headers={"authorization": "Bearer None"})).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 422),
        (json.dumps({**payload(alert()), "version": "3"}).encode(), 422),
        (json.dumps({**payload(alert()), "alerts": [{"status": "firing"}]}).encode(), 422),
        (json.dumps(payload({**alert(), "startsAt": "yesterday"})).encode(), 422),
        (json.dumps(payload({**alert(), "fingerprint": "../../etc"})).encode(), 422),
        (json.dumps(payload({**alert(), "labels": {"severity": "critical"}})).encode(), 422),
        (
            json.dumps(
                payload({**alert(), "labels": {f"l{n}": "v" for n in range(100)} | {"alertname": "A"}})
            ).encode(),
            422,
        ),
    ],
    ids=["not-json", "array", "version-3", "alert-shape", "bad-time", "bad-fingerprint", "no-alertname", "many-labels"],
)
async def test_malformed_payloads_get_4xx_and_change_nothing(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post(HOOK, content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert await _counts(client) == (0, 0)


async def test_a_10_mb_payload_gets_413(client: httpx.AsyncClient) -> None:
    big = payload(alert(summary="x" * 1000))
    big["padding"] = "y" * (10 * 1024 * 1024)
    response = await client.post(HOOK, content=json.dumps(big).encode(), headers=AUTH)
    assert response.status_code == 413
    # and streamed without a length: still cut off at the limit

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"z" * (1024 * 1024)

    response = await client.post(HOOK, content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert await _counts(client) == (0, 0)


async def test_html_in_annotations_is_escaped_everywhere(client: httpx.AsyncClient) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    await client.post(HOOK, json=payload(alert(summary=evil)), headers=AUTH)
    page = await client.get("/status")
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    feed = await client.get("/status/feed.atom")
    ET.fromstring(feed.content)  # noqa: S314 - our own feed; still well-formed XML
    assert "<script>" not in feed.text
    # the JSON carries the text as it was (a consumer escapes for its own output)
    assert (await client.get("/status/incidents")).json()["incidents"][0]["name"] == evil


async def test_operators_post_updates_and_maintenance(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/status/api/incidents",
        json={"name": "Checkout errors", "body": "Investigating.", "components": {"api": "partial_outage"}},
        headers=AUTH,
    )
    assert created.status_code == 201
    incident_id = created.json()["id"]
    for status in ("identified", "monitoring"):
        r = await client.post(
            f"/status/api/incidents/{incident_id}/updates", json={"status": status, "body": status}, headers=AUTH
        )
        assert r.status_code == 201
    [current] = (await client.get("/status/incidents")).json()["incidents"]
    assert current["status"] == "monitoring" and current["identified_at"] and current["monitoring_at"]
    assert [u["status"] for u in current["incident_updates"]] == ["monitoring", "identified", "investigating"]
    bad = await client.post(
        f"/status/api/incidents/{incident_id}/updates", json={"status": "fixed", "body": "x"}, headers=AUTH
    )
    assert bad.status_code == 422
    unknown = await client.post(
        "/status/api/incidents/ffffffffffff/updates", json={"status": "resolved", "body": "x"}, headers=AUTH
    )
    assert unknown.status_code == 404
    wrong_component = await client.post(
        "/status/api/incidents", json={"name": "x", "body": "y", "components": {"nope": "major_outage"}}, headers=AUTH
    )
    assert wrong_component.status_code == 422 and "unknown components nope" in wrong_component.json()["error"]

    window = await client.post(
        "/status/api/maintenances",
        json={"name": "DB upgrade", "body": "PostgreSQL 16", "components": ["api"],
              "scheduled_for": "2000-01-01T00:00:00Z", "scheduled_until": "2999-01-01T00:00:00Z"},
        headers=AUTH,
    )  # fmt: skip
    assert window.status_code == 201 and window.json()["status"] == "in_progress"
    summary = (await client.get("/status/api/v2/summary.json")).json()
    assert summary["scheduled_maintenances"][0]["name"] == "DB upgrade"
    cancelled = await client.post(f"/status/api/maintenances/{window.json()['id']}/cancel", headers=AUTH)
    assert cancelled.json() == {"cancelled": True}
    backwards = await client.post(
        "/status/api/maintenances",
        json={"name": "x", "components": ["api"], "scheduled_for": "2026-01-02T00:00:00Z",
              "scheduled_until": "2026-01-01T00:00:00Z"},
        headers=AUTH,
    )  # fmt: skip
    assert backwards.status_code == 422


async def test_component_status_follows_checks_and_heartbeats(tmp_path: Path) -> None:
    up = {"postgres": True}
    checker = HealthChecker([CallableCheck("postgres", lambda: up["postgres"])], interval=0, registry=None)

    class Workers:
        count = 2

        async def workers(self) -> list[int]:
            return list(range(self.count))

    heartbeats = Workers()
    service = StatusService(spec(), tmp_path / "s.db", checker=checker, heartbeats=heartbeats, cache_seconds=0)
    try:
        app = StatusApp(service, token=TOKEN)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:

            async def statuses() -> dict[str, str]:
                doc = (await c.get("/status/api/v2/components.json")).json()
                return {x["id"]: x["status"] for x in doc["components"]}

            assert await statuses() == {"api": "operational", "workers": "operational"}
            up["postgres"] = False
            heartbeats.count = 1
            assert await statuses() == {"api": "major_outage", "workers": "partial_outage"}
            heartbeats.count = 0
            assert (await statuses())["workers"] == "major_outage"
            assert "health check postgres is down" in (await c.get("/status")).text
    finally:
        service.close()


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/status/nope")).status_code == 404
    assert (await client.delete("/status/incidents")).status_code == 405
    assert (await client.get(HOOK)).status_code == 405
    head = await client.head("/status")
    assert head.status_code == 200 and head.content == b""


async def test_readers_share_one_snapshot_per_second_and_writes_refresh_it(tmp_path: Path) -> None:
    up = {"postgres": True}
    checker = HealthChecker([CallableCheck("postgres", lambda: up["postgres"])], interval=0, registry=None)
    service = StatusService(spec(), tmp_path / "s.db", checker=checker, cache_seconds=60)
    try:
        app = StatusApp(service, token=TOKEN)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
            for _ in range(20):
                assert (await c.get("/status/api/v2/status.json")).status_code == 200
            assert checker.runs == 1  # twenty readers, one read of the checks
            up["postgres"] = False
            assert (await c.get("/status/api/v2/status.json")).json()["status"]["indicator"] == "none"  # cached
            await c.post(HOOK, json=payload(alert("ApiSlow", severity="warning")), headers=AUTH)  # a write
            doc = (await c.get("/status/api/v2/summary.json")).json()
            assert doc["status"]["indicator"] == "critical"  # fresh: the incident and the check both show
            assert len(doc["incidents"]) == 1
    finally:
        service.close()


async def test_a_check_outage_is_recorded_into_the_history_bars(tmp_path: Path) -> None:
    up = {"postgres": True}
    checker = HealthChecker([CallableCheck("postgres", lambda: up["postgres"])], interval=0, registry=None)
    service = StatusService(spec(), tmp_path / "s.db", checker=checker, cache_seconds=0)
    try:
        assert await service.record_health() == 0
        up["postgres"] = False
        await service.start(interval=0.05)
        app = StatusApp(service, token=TOKEN)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
            for _ in range(100):
                history = (await c.get("/status/history")).json()
                api = next(x for x in history["components"] if x["id"] == "api")
                if api["days"][-1]["status"] == "major_outage":
                    break
                await asyncio.sleep(0.05)
            assert api["days"][-1]["status"] == "major_outage"  # from the recorded check outage, no incident
            up["postgres"] = True
            for _ in range(100):
                if len(service.store.health_events(0)["api"]) == 2:
                    break
                await asyncio.sleep(0.05)
            assert [s for _, s in service.store.health_events(0)["api"]] == ["major_outage", "operational"]
            assert (await c.get("/status/api/v2/status.json")).json()["status"]["indicator"] == "none"
    finally:
        await service.stop()
        service.close()


@pytest.mark.parametrize("mount", ["/status", "/public/status-page"])
async def test_mounted_in_a_starlette_app(service: StatusService, mount: str) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = Starlette(routes=[Mount(mount, app=StatusApp(service, token=TOKEN))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        hook = await c.post(f"{mount}/webhook/alertmanager", json=payload(alert()), headers=AUTH)
        assert hook.json()["action"] == "opened"
        assert len((await c.get(f"{mount}/incidents")).json()["incidents"]) == 1
        page = await c.get(f"{mount}/")
        assert page.status_code == 200
        assert f'href="{mount}/feed.atom"' in page.text and f'href="{mount}/history"' in page.text
        assert (await c.get(f"{mount}/feed.atom")).status_code == 200
