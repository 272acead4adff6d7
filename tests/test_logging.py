"""JSON logs: seed 001's fields, secrets never printed, tracebacks without locals, one line per record."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import jobpulse.logging as jlog
from jobpulse.integrations.structlog import add_trace_context, redact_secrets
from jobpulse.runtime import context
from tests.redaction_cases import CASES, leaked

SEED_FIELDS = [
    "timestamp",
    "level",
    "logger",
    "message",
    "trace_id",
    "request_id",
    "user_id",
    "job_id",
    "batch_id",
    "duration_ms",
    "status_code",
]
SECRETS = {
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9abcdefghijkl",
    "openai": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "stripe": "sk_live_51HbcdEFGhijKLmnop",
    "github": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
#: The part of each secret that must never appear (the scheme word of a bearer token may stay).
SECRET_CORES = [s.removeprefix("Bearer ") for s in SECRETS.values()]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger("tests.logging")
    logger.propagate = False
    handler = jlog.configure(stream=out, logger=logger, level=logging.DEBUG)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


LOG = logging.getLogger("tests.logging")


def test_fields_follow_seed_001(stream: io.StringIO) -> None:
    ctx = context.RequestContext(request_id="req_456", user_id="user_789", job_id="job_999", batch_id="batch_111")
    token = context._current.set(ctx)
    try:
        LOG.info("Request processed", extra={"duration_ms": 450, "status_code": 200, "model": "gpt-4o"})
    finally:
        context._current.reset(token)
    [record] = records(stream)
    assert list(record)[: len(SEED_FIELDS)] == SEED_FIELDS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    assert record["level"] == "INFO" and record["logger"] == "tests.logging"
    assert record["message"] == "Request processed"
    assert (record["trace_id"], record["request_id"]) == (ctx.trace_id, "req_456")
    assert (record["user_id"], record["job_id"], record["batch_id"]) == ("user_789", "job_999", "batch_111")
    assert (record["duration_ms"], record["status_code"], record["model"]) == (450, 200, "gpt-4o")


def test_outside_a_request_there_are_no_ids(stream: io.StringIO) -> None:
    LOG.warning("startup")
    [record] = records(stream)
    assert "trace_id" not in record and record["level"] == "WARNING"


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_secrets_in_messages_args_and_extras_are_never_printed(kind: str, stream: io.StringIO) -> None:
    secret = SECRETS[kind]
    LOG.info("calling provider with %s", secret)
    LOG.info(f"header Authorization: {secret}")
    LOG.info("request", extra={"headers": {"Authorization": secret, "x-api-key": secret}, "note": f"key={secret}"})
    LOG.info("nested", extra={"payload": [{"config": {"detail": f"using {secret} now"}}]})
    try:
        raise ConnectionError(f"provider refused {secret}")
    except ConnectionError:
        LOG.exception("call failed")
    text = stream.getvalue()
    core = secret.removeprefix("Bearer ")
    assert core not in text
    assert text.count(jlog.REDACTED) >= 6


@pytest.mark.parametrize(
    "key", ["password", "db_password", "Authorization", "api_key", "X-API-Key", "cookie", "Set-Cookie", "client_secret"]
)
def test_values_under_secret_keys_are_redacted(key: str, stream: io.StringIO) -> None:
    LOG.info("login", extra={"form": {key: "hunter2-plain", "username": "ada"}})
    [record] = records(stream)
    assert record["form"] == {key: jlog.REDACTED, "username": "ada"}


def test_ordinary_keys_and_words_are_left_alone(stream: io.StringIO) -> None:
    LOG.info("token validation passed; basic configuration", extra={"tokens_used": 1234, "keyboard": "qwerty"})
    [record] = records(stream)
    assert record["message"] == "token validation passed; basic configuration"
    assert (record["tokens_used"], record["keyboard"]) == (1234, "qwerty")


def test_url_passwords_are_redacted() -> None:
    assert jlog.redact_text("postgresql://app:s3cret@db:5432/x") == "postgresql://app:[REDACTED]@db:5432/x"


def leaky(password: str) -> None:
    api_key = "local-" + password  # noqa: F841 - a local variable a traceback with locals would print
    raise ValueError("bad input")


def test_tracebacks_have_no_local_variables(stream: io.StringIO) -> None:
    try:
        leaky("-".join(["hunter2", "argument"]))  # the source line shows the call, not the value
    except ValueError:
        LOG.exception("failed")
    [record] = records(stream)
    assert "ValueError: bad input" in record["exception"]
    assert 'in leaky\n    raise ValueError("bad input")' in record["exception"]
    assert "hunter2-argument" not in record["exception"] and "local-hunter2" not in record["exception"]


def test_control_characters_cannot_forge_a_line(stream: io.StringIO) -> None:
    forged = 'ok\n{"level": "CRITICAL", "message": "forged"}\r\x1b[2J\u2028\x85'
    LOG.info("user said %s", forged)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.isascii()
    [record] = records(stream)
    assert record["message"] == f"user said {forged}"


@given(st.text(max_size=200))
def test_any_message_is_one_ascii_json_line(message: str) -> None:
    formatter = jlog.JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (message,), None)
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line and line.isascii()
    assert json.loads(line)["message"] == jlog.redact_text(message)


def test_a_broken_extra_does_not_raise(stream: io.StringIO) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    LOG.info("hello", extra={"thing": Unprintable()})
    [record] = records(stream)
    assert (record["message"], record["thing"]) == ("hello", "<unprintable Unprintable>")
    # a format error in the app's own call gives a line saying so instead of an exception
    broken = logging.LogRecord("app", logging.INFO, __file__, 1, "broken %d", ("not a number",), None)
    line = json.loads(jlog.JsonFormatter().format(broken))
    assert line["level"] == "ERROR" and line["message"] == "could not format a log record from 'app': TypeError"


def test_configure_twice_keeps_one_handler() -> None:
    logger = logging.getLogger("tests.logging.twice")
    first = jlog.configure(logger=logger, stream=io.StringIO())
    second = jlog.configure(logger=logger, stream=io.StringIO(), static_fields={"service": "ai-shorts"})
    try:
        assert logger.handlers == [second] and first is not second
    finally:
        logger.removeHandler(second)


def test_structlog_processors_add_context_and_redact() -> None:
    with context.use(job_id="job_1") as ctx:
        event = add_trace_context(None, "info", {"event": "go"})
    assert (event["trace_id"], event["job_id"]) == (ctx.trace_id, "job_1")
    cleaned = redact_secrets(None, "info", {"event": f"sent {SECRETS['openai']}", "password": "x", "n": 3})
    assert cleaned == {"event": f"sent {jlog.REDACTED}", "password": jlog.REDACTED, "n": 3}


def test_structlog_chain_renders_json_without_secrets() -> None:
    import structlog

    from jobpulse.integrations.structlog import processors

    out = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(out), processors=processors())
    with context.use(user_id="user_789"):
        logger.info("charged", authorization=SECRETS["bearer"])
    record = json.loads(out.getvalue())
    assert record["user_id"] == "user_789" and record["authorization"] == jlog.REDACTED


_KEY_BODY = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=20, max_size=48)
_AROUND = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(
    _AROUND,
    _AROUND,
    st.sampled_from(["sk-", "sk-proj-", "sk-ant-api03-", "sk_live_", "Bearer ", "ghp_"]),
    _KEY_BODY,
)
def test_generated_keys_never_survive_redaction(before: str, after: str, prefix: str, body: str) -> None:
    assume(body not in before and body not in after)
    text = f"{before} {prefix}{body} {after}"
    line = json.loads(jlog.JsonFormatter().format(logging.LogRecord("x", logging.INFO, __file__, 1, text, (), None)))
    assert body not in line["message"]


# -- the table of secrets (issue 18, item 1): messages, arguments, extras, tracebacks, structlog ------------------
@pytest.mark.parametrize(("name", "text", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_no_case_of_the_table_reaches_a_json_log_line(
    name: str, text: str, fragments: list[str], stream: io.StringIO
) -> None:
    LOG.info(f"connect failed: {text}")
    LOG.info("connect failed: %s", text)
    LOG.info("request", extra={"detail": text, "context": {"request": [text]}})
    try:
        raise ConnectionError(text)
    except ConnectionError:
        LOG.exception("call failed")
    assert leaked(stream.getvalue(), fragments) == []
    assert len(records(stream)) == 4


def test_camel_case_secret_keys_in_extras_are_redacted(stream: io.StringIO) -> None:
    LOG.info("login", extra={"form": {"dbPassword": "camel-1", "accessToken": "camel-2", "userName": "ada"}})
    [record] = records(stream)
    assert record["form"] == {"dbPassword": jlog.REDACTED, "accessToken": jlog.REDACTED, "userName": "ada"}


@pytest.mark.parametrize(("name", "text", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_no_case_of_the_table_reaches_a_structlog_line(name: str, text: str, fragments: list[str]) -> None:
    import structlog

    from jobpulse.integrations.structlog import processors

    out = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(out), processors=processors())
    logger.info(f"connect failed: {text}", detail=text, headers={"refreshToken": text})
    try:
        raise ConnectionError(text)
    except ConnectionError:
        logger.exception("call failed")
    assert leaked(out.getvalue(), fragments) == []
