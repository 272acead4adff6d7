"""Health app behaviour with callable and HTTP checks: liveness, readiness, caching, timeouts, sanitising."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Mount

from jobpulse.integrations.http import HttpCheck
from jobpulse.runtime.health import CallableCheck, HealthApp, HealthChecker, sanitize_message
from jobpulse.verify.servers import free_port

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A check function that counts its calls and answers what ``result`` says."""

    def __init__(self, result: Any = True) -> None:
        self.calls = 0
        self.result = result

    def __call__(self) -> Any:
        self.calls += 1
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_liveness_calls_no_dependency() -> None:
    check = Counter()
    app = HealthApp(HealthChecker([CallableCheck("db", check)], registry=None), service="api", version="1.2.3")
    async with client(app) as http:
        for _ in range(3):
            response = await http.get("/health")
            assert response.status_code == 200
    assert check.calls == 0
    body = response.json()
    assert body["status"] == "ok" and body["service"] == "api" and body["version"] == "1.2.3"
    assert response.headers["cache-control"] == "no-store"


async def test_critical_down_is_503_non_critical_down_is_degraded() -> None:
    db, cache = Counter(True), Counter(False)
    checker = HealthChecker(
        [CallableCheck("db", db, critical=True), CallableCheck("cache", cache, critical=False)],
        interval=0,
        registry=None,
    )
    app = HealthApp(checker)
    async with client(app) as http:
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"db": "up", "cache": "down"}, "degraded": ["cache"]}
        detailed = await http.get("/detailed")
        assert detailed.status_code == 200 and detailed.json()["status"] == "degraded"
        db.result = RuntimeError("db exploded")
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["failing"] == ["db"]
        detailed = await http.get("/detailed")
        assert detailed.status_code == 503
        deps = detailed.json()["dependencies"]
        assert deps["db"]["status"] == "down" and deps["db"]["critical"] is True
        assert deps["db"]["message"] == "RuntimeError: db exploded"
        assert deps["cache"]["message"] == "RuntimeError: check returned False"
        assert isinstance(deps["db"]["latency_ms"], float)


async def test_mountable_under_any_prefix_and_on_exact_routes() -> None:
    check = Counter()
    health = HealthApp(HealthChecker([CallableCheck("db", check)], registry=None))
    starlette = Starlette(routes=[*health.routes("/api/v1/health"), Mount("/internal/health", health)])
    async with client(starlette) as http:
        for path in ("/api/v1/health", "/internal/health/"):
            response = await http.get(path)
            assert response.status_code == 200 and response.json()["status"] == "ok", path
        for path in ("/api/v1/health/ready", "/internal/health/ready", "/api/v1/health/detailed"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert "db" in response.text
        assert (await http.get("/internal/health/nope")).status_code == 404


async def test_checks_are_cached_and_concurrent_probes_share_one_run() -> None:
    calls = 0

    async def slow_check() -> bool:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return True

    clock = Clock()
    checker = HealthChecker([CallableCheck("db", slow_check)], interval=10, registry=None, clock=clock)
    app = HealthApp(checker)
    async with client(app) as http:
        responses = await asyncio.gather(*(http.get("/ready") for _ in range(50)))
        assert {r.status_code for r in responses} == {200}
        assert calls == 1 and checker.runs == 1
        clock.now += 9.9
        await asyncio.gather(*(http.get("/detailed") for _ in range(20)))
        assert calls == 1
        clock.now += 0.2  # the interval has passed: the next probe runs the check again, once
        await asyncio.gather(*(http.get("/ready") for _ in range(20)))
        assert calls == 2 and checker.runs == 2


async def test_checks_run_concurrently_each_with_its_timeout() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(30)
        return True

    async def quick() -> str:
        await asyncio.sleep(0.2)
        return "fine"

    checker = HealthChecker(
        [CallableCheck("hangs", hangs, timeout=0.3), CallableCheck("a", quick), CallableCheck("b", quick)],
        registry=None,
    )
    started = time.perf_counter()
    results = {r.name: r for r in await checker.results()}
    elapsed = time.perf_counter() - started
    assert elapsed < 0.6  # concurrent: max(0.3, 0.2, 0.2), not the sum
    assert results["hangs"].status == "down" and results["hangs"].message == "timed out after 0.3s"
    assert results["a"].status == "up" and results["a"].message == "fine"


async def test_a_hung_sync_check_is_not_started_again() -> None:
    release = threading.Event()
    calls = 0

    def blocks() -> bool:
        nonlocal calls
        calls += 1
        release.wait(5)
        return True

    checker = HealthChecker([CallableCheck("sync", blocks, timeout=0.1)], interval=0, registry=None)
    try:
        first = (await checker.refresh())[0]
        second = (await checker.refresh())[0]
        assert first.message == "timed out after 0.1s"
        assert second.status == "down" and "previous check is still running" in second.message
        assert calls == 1
    finally:
        release.set()
    await asyncio.sleep(0.1)
    third = (await checker.refresh())[0]
    assert third.status == "up" and calls == 2


async def test_dependency_metrics_follow_the_checks() -> None:
    registry = CollectorRegistry()
    flaky = Counter(True)
    checker = HealthChecker([CallableCheck("queue", flaky)], interval=0, registry=registry)
    await checker.refresh()
    assert sample(registry, "jobpulse_dependency_up", dependency="queue") == 1.0
    flaky.result = False
    await checker.refresh()
    assert sample(registry, "jobpulse_dependency_up", dependency="queue") == 0.0
    assert sample(registry, "jobpulse_dependency_check_duration_seconds_count", dependency="queue") == 2.0


async def test_methods_and_head() -> None:
    app = HealthApp(HealthChecker([CallableCheck("db", Counter())], registry=None))
    async with client(app) as http:
        response = await http.post("/ready")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
        head = await http.head("/ready")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) > 0


def test_check_configuration_errors() -> None:
    with pytest.raises(ValueError, match="unique"):
        HealthChecker([CallableCheck("db", Counter()), CallableCheck("db", Counter())], registry=None)
    with pytest.raises(ValueError, match="dependency name"):
        CallableCheck("Bad Name!", Counter())
    with pytest.raises(ValueError, match="timeout"):
        CallableCheck("db", Counter(), timeout=0)


@pytest.mark.parametrize(
    ("message", "leaked"),
    [
        ("could not connect to postgresql://app:hunter2@db.internal:5432/prod", ["hunter2", "postgresql://", "app:"]),
        ("auth failed: password=hunter2 user=app host=db.internal", ["hunter2", "=app", "db.internal"]),
        ("redis://:hunter2@cache:6379/0 refused", ["hunter2", "redis://"]),
        ("token: abc.def.ghi and\r\nInjected: header", ["abc.def.ghi", "\r", "\n"]),
        ("dsn='host=db port=5432 password=hunter2'", ["hunter2", "host=db"]),
    ],
)
def test_sanitize_removes_credentials_and_connection_strings(message: str, leaked: list[str]) -> None:
    clean = sanitize_message(message, secrets=["hunter2"])
    for fragment in leaked:
        assert fragment not in clean
    assert len(sanitize_message("x" * 10_000)) <= 300


SECRET_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$"


@given(
    secret=st.text(alphabet=SECRET_CHARS, min_size=6, max_size=40),
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    form=st.sampled_from(["{}", "postgresql://app:{}@db:5432/x", "password={}", "redis://:{}@cache/0", "token: {}"]),
)
def test_sanitize_never_returns_a_given_secret(secret: str, before: str, after: str, form: str) -> None:
    clean = sanitize_message(before + form.format(secret) + after, secrets=[secret])
    assert secret not in clean
    assert len(clean) <= 300 and not any(ord(ch) < 32 for ch in clean)


def test_sanitize_removes_given_secrets_even_url_encoded() -> None:
    assert "p@ss/w" not in sanitize_message("failed for p@ss/w", secrets=["p%40ss%2Fw"])
    assert sanitize_message("failed for p@ss/w", secrets=["p%40ss%2Fw"]) == "failed for ***"


# --- HttpCheck against a real HTTP server -----------------------------------------------------------------


@pytest.fixture
def http_target() -> Iterator[tuple[str, dict[str, int]]]:
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state["status"])
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/status?token=s3cr3t-token", state
    finally:
        server.shutdown()
        server.server_close()


async def test_http_check_up_down_and_unreachable(http_target: tuple[str, dict[str, int]]) -> None:
    url, state = http_target
    check = HttpCheck("billing", url, timeout=1.0)
    unreachable = HttpCheck("gone", f"http://user:pa55word@127.0.0.1:{free_port()}/", timeout=1.0)
    checker = HealthChecker([check, unreachable], interval=0, registry=None)
    try:
        results = {r.name: r for r in await checker.refresh()}
        assert results["billing"].status == "up" and results["billing"].message == "HTTP 200"
        assert results["billing"].critical is False  # HTTP dependencies default to non-critical
        assert results["gone"].status == "down"
        state["status"] = 503
        results = {r.name: r for r in await checker.refresh()}
        assert results["billing"].status == "down" and results["billing"].message == "RuntimeError: HTTP 503"
        for result in results.values():
            for secret in ("s3cr3t-token", "pa55word", "http://"):
                assert secret not in result.message
    finally:
        await checker.aclose()


async def test_spec_instruments_can_carry_the_dependency_metrics() -> None:
    from jobpulse import Telemetry
    from jobpulse.spec.load import load_spec_text

    spec = """\
version: jobpulse/v1
service: {name: h}
metrics:
  - {name: jobpulse_dependency_up, type: gauge, help: Up., labels: {dependency: {values: [db]}}}
  - name: jobpulse_dependency_check_duration_seconds
    type: histogram
    unit: seconds
    help: Check time.
    labels: {dependency: {values: [db]}}
"""
    registry = CollectorRegistry()
    telemetry = Telemetry(load_spec_text(spec), registry=registry, strict=True)
    checker = HealthChecker(
        [CallableCheck("db", Counter(False))],
        registry=None,
        up_metric=telemetry["jobpulse_dependency_up"],
        duration_metric=telemetry["jobpulse_dependency_check_duration_seconds"],
    )
    await checker.refresh()
    assert sample(registry, "jobpulse_dependency_up", dependency="db") == 0.0
    assert sample(registry, "jobpulse_dependency_check_duration_seconds_count", dependency="db") == 1.0


def test_the_checks_old_import_paths_still_work() -> None:
    """HttpCheck and PostgresCheck moved to jobpulse.integrations; jobpulse.runtime.health still names them."""
    from jobpulse.integrations.postgres import PostgresCheck
    from jobpulse.runtime import health

    assert health.HttpCheck is HttpCheck
    assert health.PostgresCheck is PostgresCheck
    assert {"HttpCheck", "PostgresCheck"} <= set(health.__all__)
    with pytest.raises(AttributeError, match="no attribute 'RedisCheck'"):
        _ = health.RedisCheck


# --- the table of secrets (issue 18, item 1): nothing of it in /health/detailed ----------------------------------
async def test_no_case_of_the_table_reaches_the_detailed_health_endpoint() -> None:
    from tests.redaction_cases import CASES, leaked

    checks = [CallableCheck(f"dep{i}", Counter(ConnectionError(text))) for i, (_, text, _) in enumerate(CASES)]
    # a check that is up may report a message too
    checks += [CallableCheck(f"up{i}", Counter(f"connected with {text}")) for i, (_, text, _) in enumerate(CASES)]
    app = HealthApp(HealthChecker(checks, interval=0, registry=None))
    async with client(app) as http:
        response = await http.get("/health/detailed")
    assert response.status_code == 503  # critical checks are down
    dependencies = response.json()["dependencies"]
    assert len(dependencies) == 2 * len(CASES)
    for i, (name, _, fragments) in enumerate(CASES):
        for dependency in (f"dep{i}", f"up{i}"):
            assert leaked(dependencies[dependency]["message"], fragments) == [], (name, dependencies[dependency])


# --- auth: the same bearer token as /metrics on detailed and the workers, never on liveness (issue 18, item 8) -----
async def test_a_token_protects_detailed_and_the_workers_but_not_liveness_or_readiness() -> None:
    checker = HealthChecker([CallableCheck("db", Counter(ConnectionError("db.internal refused")))], registry=None)
    app = HealthApp(checker, token="s3cret-health-token")
    private = ["/health/detailed", "/health/workers", "/health/workers/w1", "/detailed", "/workers"]
    async with client(app) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503  # open: the probe sees the dependency down
        for path in private:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret-health-token"}):
                response = await http.get(path, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.json() == {"error": "unauthorized"}
                assert response.headers["www-authenticate"] == 'Bearer realm="health"'
                assert "db.internal" not in response.text
        for scheme in ("Bearer", "bearer", "BEARER"):
            detailed = await http.get("/health/detailed", headers={"authorization": f"{scheme} s3cret-health-token"})
            assert detailed.status_code == 503 and detailed.json()["dependencies"]["db"]["status"] == "down"
        workers = await http.get("/health/workers", headers={"authorization": "Bearer s3cret-health-token"})
        assert workers.status_code == 404  # authorised; no heartbeat monitor configured
        assert (await http.post("/health/detailed")).status_code == 405


async def test_the_token_guards_the_starlette_routes_too() -> None:
    app = HealthApp(HealthChecker([CallableCheck("db", Counter())], registry=None), token="tok-1234")
    starlette = Starlette(routes=app.routes("/api/v1/health", workers_prefix="/api/v1/workers"))
    async with client(starlette) as http:
        assert (await http.get("/api/v1/health")).status_code == 200
        assert (await http.get("/api/v1/health/ready")).status_code == 200
        for path in ("/api/v1/health/detailed", "/api/v1/health/workers", "/api/v1/workers/w1/heartbeat"):
            assert (await http.get(path)).status_code == 401, path
        ok = await http.get("/api/v1/health/detailed", headers={"authorization": "Bearer tok-1234"})
        assert ok.status_code == 200


@pytest.mark.parametrize("token", ["", "   ", "tok en", "tok\n"])
def test_an_empty_or_malformed_health_token_is_a_configuration_error(token: str) -> None:
    with pytest.raises(ValueError, match="health token"):
        HealthApp(None, token=token)
