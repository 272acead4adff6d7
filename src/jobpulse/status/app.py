"""The status page as a pure ASGI app: the public page and JSON, Alertmanager's webhook, the operators' API.

Paths are relative to ``page.path`` (``/status`` by default) — or to wherever the app is mounted:

| method | path | what |
|---|---|---|
| GET | ``/status`` | the HTML page |
| GET | ``/status/incidents``, ``/status/history`` | current incidents; resolved incidents and daily uptime (JSON) |
| GET | ``/status/api/v2/summary.json`` and ``status``, ``components``, ``incidents``, | Statuspage's public |
|     | ``incidents/unresolved``, ``scheduled-maintenances`` (``.json``)               | API v2              |
| GET | ``/status/feed.atom`` | Atom feed of incidents |
| POST | ``/status/webhook/alertmanager`` | Alertmanager webhook (bearer token) |
| POST | ``/status/api/incidents``, ``/status/api/incidents/{id}/updates``, | operators (bearer token) |
|      | ``/status/api/maintenances``, ``/status/api/maintenances/{id}/cancel`` |                          |
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobpulse.asgi import Receive, Scope, Send, lifespan
from jobpulse.spec.wire_status import StatusPage
from jobpulse.status.feed import render_feed
from jobpulse.status.model import iso, parse_time
from jobpulse.status.page import CONTENT_SECURITY_POLICY, render_page
from jobpulse.status.service import StatusService
from jobpulse.status.statuspage import (
    component_json,
    history_json,
    incident_json,
    incidents_json,
    maintenance_json,
    status_json,
    summary_json,
)
from jobpulse.status.webhook import PayloadError, parse_payload

__all__ = ["MAX_BODY_BYTES", "StatusApp"]


LOGGER = logging.getLogger("jobpulse.status")
PAGE_HISTORY = 25  # resolved incidents on the HTML page; /status/history has up to 1000
MAX_BODY_BYTES = 1 << 20  # 1 MiB: Alertmanager's payloads are a few KiB per alert
_ID = re.compile(r"^[0-9a-f]{12}$")
_INCIDENT_UPDATES = re.compile(r"^/api/incidents/([^/]+)/updates$")
_MAINTENANCE_CANCEL = re.compile(r"^/api/maintenances/([^/]+)/cancel$")


class _BodyTooLarge(Exception):
    pass


class _NotReady(Exception):
    pass


class _Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Status = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


class NewIncident(_Operator):
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    status: Literal["investigating", "identified", "monitoring", "resolved"] = "investigating"
    components: dict[str, Status] = Field(min_length=1, max_length=100)


class NewUpdate(_Operator):
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    body: str = Field(min_length=1, max_length=5000)
    components: dict[str, Status] | None = Field(default=None, max_length=100)


class NewMaintenance(_Operator):
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=5000)
    components: list[str] = Field(min_length=1, max_length=100)
    scheduled_for: str = Field(max_length=64)
    scheduled_until: str = Field(max_length=64)

    @field_validator("scheduled_for", "scheduled_until")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value


class StatusApp:
    """``StatusApp(service, token=...)``. ``token`` authenticates Alertmanager's webhook and, unless
    ``operator_token`` is given, the operators' API too. Without a token every write answers 401.

    ``service`` may be ``None`` at first (give ``page``) and set in the app's lifespan, once the storage and
    the health checks exist; until then every request answers 503.
    """

    def __init__(
        self,
        service: StatusService | None,
        *,
        token: str | None,
        operator_token: str | None = None,
        page: StatusPage | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._service = service
        if service is not None:
            page = service.page
        if page is None:
            raise ValueError("give a StatusService, or the page (spec.status_page) and set .service later")
        self.page = page
        self.prefix = self.page.path.rstrip("/")
        self.token = token or None
        self.operator_token = operator_token or self.token
        self.max_body = max_body
        self._get: dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
            "": self.html,
            "/": self.html,
            "/incidents": self.incidents,
            "/history": self.history,
            "/feed.atom": self.feed,
            "/api/v2/summary.json": self.summary,
            "/api/v2/status.json": self.status,
            "/api/v2/components.json": self.components,
            "/api/v2/incidents.json": self.all_incidents,
            "/api/v2/incidents/unresolved.json": self.incidents,
            "/api/v2/scheduled-maintenances.json": self.scheduled,
        }

    @property
    def service(self) -> StatusService:
        if self._service is None:
            raise _NotReady
        return self._service

    @service.setter
    def service(self, value: StatusService) -> None:
        self._service = value

    @property
    def ready(self) -> bool:
        """Whether the service has been set (requests answer 503 until then)."""
        return self._service is not None

    # -- dispatch -------------------------------------------------------------------------------------
    def _relative(self, scope: Scope) -> str:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix) :]
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = self._relative(scope)
        method = scope.get("method", "GET")
        try:
            if method in ("GET", "HEAD") and path in self._get:
                await self._get[path](scope, send)
                return
            if method == "POST" and (path in ("/webhook/alertmanager", "/api/incidents", "/api/maintenances") or
                                     _INCIDENT_UPDATES.match(path) or _MAINTENANCE_CANCEL.match(path)):  # fmt: skip
                await self._post(path, scope, receive, send)
                return
        except _NotReady:
            await _json(scope, send, 503, {"error": "the status service is starting"})
            return
        except Exception:
            LOGGER.exception("status page request failed: %s %s", method, path)
            await _json(scope, send, 503, {"error": "the status service cannot answer right now"})
            return
        if path in self._get or path.startswith(("/webhook/", "/api/")):
            await _json(scope, send, 405, {"error": "method not allowed"})
            return
        await _json(scope, send, 404, {"error": "not found"})

    # -- reads ----------------------------------------------------------------------------------------
    async def html(self, scope: Scope, send: Send) -> None:
        snapshot = await self.service.snapshot(history_limit=PAGE_HISTORY)
        body = render_page(
            snapshot,
            feed_path=self._link(scope, "/feed.atom"),
            summary_path=self._link(scope, "/api/v2/summary.json"),
            history_path=self._link(scope, "/history"),
        )
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"public, max-age=10"),
        ]
        await _send(scope, send, 200, body.encode(), headers)

    def _link(self, scope: Scope, sub: str) -> str:
        """``sub`` under where this app answers: ``root_path`` (+ ``page.path`` unless mounted at it)."""
        root: str = scope.get("root_path", "").rstrip("/")
        path: str = scope.get("path", "")
        inner = path[len(root) :] if root and path.startswith(root) else path
        under_prefix = bool(self.prefix) and (inner == self.prefix or inner.startswith(self.prefix + "/"))
        return (root + self.prefix if under_prefix else root) + sub

    async def incidents(self, scope: Scope, send: Send) -> None:
        await _json(scope, send, 200, incidents_json(await self.service.snapshot(history_limit=0)))

    async def history(self, scope: Scope, send: Send) -> None:
        await _json(scope, send, 200, history_json(await self.service.snapshot(history_limit=_limit(scope))))

    async def summary(self, scope: Scope, send: Send) -> None:
        await _json(scope, send, 200, summary_json(await self.service.snapshot(history_limit=0)))

    async def status(self, scope: Scope, send: Send) -> None:
        await _json(scope, send, 200, status_json(await self.service.snapshot(history_limit=0)))

    async def components(self, scope: Scope, send: Send) -> None:
        snapshot = await self.service.snapshot(history_limit=0)
        doc = {**status_json(snapshot), "components": [component_json(s, snapshot) for s in snapshot.components]}
        doc.pop("status")
        await _json(scope, send, 200, doc)

    async def all_incidents(self, scope: Scope, send: Send) -> None:
        snapshot = await self.service.snapshot(history_limit=_limit(scope))
        incidents = [incident_json(i, snapshot) for i in [*snapshot.unresolved, *snapshot.history]]
        doc = {**status_json(snapshot), "incidents": incidents}
        doc.pop("status")
        await _json(scope, send, 200, doc)

    async def scheduled(self, scope: Scope, send: Send) -> None:
        snapshot = await self.service.snapshot(history_limit=0)
        doc = {
            **status_json(snapshot),
            "scheduled_maintenances": [maintenance_json(m, snapshot) for m in snapshot.maintenances],
        }
        doc.pop("status")
        await _json(scope, send, 200, doc)

    async def feed(self, scope: Scope, send: Send) -> None:
        snapshot = await self.service.snapshot()
        base = self.page.url or _origin(scope)
        page_url = base + self._link(scope, "")
        xml = render_feed(snapshot, self_url=base + self._link(scope, "/feed.atom"), page_url=page_url)
        await _send(scope, send, 200, xml.encode(), [(b"content-type", b"application/atom+xml; charset=utf-8")])

    # -- writes ---------------------------------------------------------------------------------------
    async def _post(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        expected = self.token if path == "/webhook/alertmanager" else self.operator_token
        if not _authorized(scope, expected):
            await _json(
                scope, send, 401, {"error": "a valid bearer token is required"}, [(b"www-authenticate", b"Bearer")]
            )
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _json(scope, send, 413, {"error": f"the body is larger than {self.max_body} bytes"})
            return
        try:
            body = await _read_body(receive, self.max_body)
        except _BodyTooLarge:
            await _json(scope, send, 413, {"error": f"the body is larger than {self.max_body} bytes"})
            return
        if path == "/webhook/alertmanager":
            try:
                payload = parse_payload(body)
            except PayloadError as exc:
                await _json(scope, send, exc.status, {"error": str(exc)})
                return
            result = await self.service.deliver(payload)
            LOGGER.info("alertmanager delivery: %s %s", result.action, result.incident_id or "")
            await _json(scope, send, 200, {"action": result.action, "incident_id": result.incident_id})
            return
        await self._operator(path, body, scope, send)

    async def _operator(self, path: str, body: bytes, scope: Scope, send: Send) -> None:
        try:
            data = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            await _json(scope, send, 400, {"error": "the body is not JSON"})
            return
        known = {c.name for c in self.page.components}
        try:
            if path == "/api/incidents":
                new = NewIncident.model_validate(data)
                _known(new.components, known)
                incident = await self.service.call(
                    "create_incident", new.name, new.body, components=new.components, status=new.status
                )
                snapshot = await self.service.snapshot()
                await _json(scope, send, 201, incident_json(incident, snapshot))
                return
            if path == "/api/maintenances":
                window = NewMaintenance.model_validate(data)
                _known(window.components, known)
                start, end = parse_time(window.scheduled_for), parse_time(window.scheduled_until)
                if end <= start:
                    raise ValueError("scheduled_until must be after scheduled_for")
                item = await self.service.call(
                    "create_maintenance", window.name, window.body, window.components, start, end
                )
                snapshot = await self.service.snapshot()
                await _json(scope, send, 201, maintenance_json(item, snapshot))
                return
            matched = _INCIDENT_UPDATES.match(path)
            if matched:
                update = NewUpdate.model_validate(data)
                if update.components is not None:
                    _known(update.components, known)
                found = _ID.match(matched.group(1)) and await self.service.call(
                    "add_update", matched.group(1), update.status, update.body, components=update.components
                )
                if not found:
                    await _json(scope, send, 404, {"error": "unknown incident"})
                    return
                await _json(
                    scope, send, 201, {"id": found.id, "status": found.status, "created_at": iso(found.created_at)}
                )
                return
            matched = _MAINTENANCE_CANCEL.match(path)
            assert matched is not None
            ok = _ID.match(matched.group(1)) and await self.service.call("cancel_maintenance", matched.group(1))
            await _json(scope, send, 200 if ok else 404, {"cancelled": bool(ok)})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            await _json(scope, send, 422, {"error": f"{where}: {first['msg']}" if where else first["msg"]})
        except ValueError as exc:
            await _json(scope, send, 422, {"error": str(exc)})

    # -- Starlette ------------------------------------------------------------------------------------
    def routes(self) -> list[Any]:
        """Starlette routes: the page at ``page.path`` exactly and everything below it (``starlette`` extra)."""
        from jobpulse.extras import require

        routing = require("starlette.routing", extra="starlette", feature="StatusApp.routes")
        return [
            routing.Route(self.prefix or "/", _Endpoint(self), methods=["GET", "HEAD"], name="status_page"),
            routing.Route(
                self.prefix + "/{path:path}", _Endpoint(self), methods=["GET", "HEAD", "POST"], name="status"
            ),
        ]


class _Endpoint:
    """An object, not a function: Starlette calls it as an ASGI app with the original path."""

    def __init__(self, app: StatusApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _known(components: Any, known: set[str]) -> None:
    unknown = sorted(set(components) - known)
    if unknown:
        raise ValueError(f"unknown components {', '.join(unknown)}; the page has {', '.join(sorted(known))}")


def _limit(scope: Scope) -> int:
    query = scope.get("query_string", b"").decode("latin-1")
    found = re.search(r"(?:^|&)limit=(\d{1,4})(?:&|$)", query)
    return max(1, min(int(found.group(1)), 1000)) if found else 100


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _authorized(scope: Scope, expected: str | None) -> bool:
    if not expected:
        return False
    given = _header(scope, b"authorization") or ""
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _origin(scope: Scope) -> str:
    host = _header(scope, b"host") or ""
    if not re.match(r"^[A-Za-z0-9.\-:\[\]]{1,255}$", host):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(scope: Scope, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


async def _json(
    scope: Scope, send: Send, status: int, doc: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()
    cache = b"public, max-age=10" if status == 200 and scope.get("method") in ("GET", "HEAD") else b"no-store"
    headers = [(b"content-type", b"application/json"), (b"cache-control", cache), *(extra or [])]
    if scope.get("method") in ("GET", "HEAD"):
        headers.append((b"access-control-allow-origin", b"*"))  # public data, as Statuspage serves it
    await _send(scope, send, status, body, headers)
