"""The webhook payload parser: any input is either a payload or a PayloadError (400/422), never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jobpulse.status.model import parse_time
from jobpulse.status.webhook import MAX_TEXT, PayloadError, parse_payload
from tests.status.helpers import alert, payload

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_are_refused_cleanly(body: bytes) -> None:
    try:
        parse_payload(body)
    except PayloadError as exc:
        assert exc.status in (400, 422)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL"]),
    value=JSON,
)
def test_a_mutated_alert_is_a_payload_or_a_422(field: str, value: Any) -> None:
    body = payload(alert())
    body["alerts"][0][field] = value
    try:
        parsed = parse_payload(json.dumps(body).encode())
    except PayloadError as exc:
        assert exc.status == 422 and str(exc)
    else:
        assert parsed.alerts[0].alertname == "ApiDown"


def test_long_annotations_are_cut_and_times_parse_with_nanoseconds() -> None:
    parsed = parse_payload(json.dumps(payload(alert(summary="x" * 5000))).encode())
    assert len(parsed.alerts[0].annotations["summary"]) == MAX_TEXT
    assert parse_time("2026-12-06T10:00:00.123456789Z") == parse_time("2026-12-06T10:00:00.123456Z")
    assert parse_time("2026-12-06T11:00:00+01:00") == parse_time("2026-12-06T10:00:00Z")
