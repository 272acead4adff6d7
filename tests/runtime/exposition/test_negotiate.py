"""Format negotiation follows prometheus_client's choose_encoder; Accept-Encoding and name[] parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.exposition import choose_encoder

from jobpulse.runtime.exposition.negotiate import MAX_NAMES, OPENMETRICS, TEXT, gzip_accepted, name_filter, negotiate

MEDIA = ["application/openmetrics-text", "text/plain", "*/*", "application/json", " text/plain "]
PARAMS = ["version=1.0.0", "version=0.0.1", "version=0.0.4", "version=2.0.0", "version=1", "version=1.0.0.1",
          "escaping=allow-utf-8", "escaping=dots", "escaping=values", "escaping=underscores", "escaping=bogus",
          "q=0.5", "charset=utf-8", "version"]  # fmt: skip
ENTRY = st.builds(
    lambda m, ps: ";".join([m, *ps]), st.sampled_from(MEDIA), st.lists(st.sampled_from(PARAMS), max_size=3)
)


@given(st.lists(ENTRY, max_size=4).map(",".join))
def test_the_same_choice_as_prometheus_client(accept: str) -> None:
    encoder, content_type = choose_encoder(accept)
    fmt = negotiate(accept)
    assert fmt.content_type == content_type
    keywords = getattr(encoder, "keywords", {})
    assert fmt.escaping == keywords.get("escaping", "underscores")
    assert fmt.openmetrics == ("openmetrics" in getattr(getattr(encoder, "func", encoder), "__module__", ""))


def test_what_prometheus_sends() -> None:
    accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    assert negotiate(accept).openmetrics
    assert negotiate("") == TEXT
    assert negotiate("application/openmetrics-text") == OPENMETRICS


def test_a_version_that_is_not_numbers_is_skipped() -> None:
    """prometheus_client fails the request (comparing str with int); here the entry is ignored."""
    assert negotiate("application/openmetrics-text; version=1.x") == TEXT
    assert negotiate("application/openmetrics-text; version=1.0.0\r\nX-Evil: 1") == TEXT


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True), ("GZIP", True), ("deflate, gzip", True), ("gzip;q=0", False), ("gzip; q=0.001", True),
        ("gzip;q=abc", False), ("identity", False), ("", False), ("*", True), ("*;q=0", False),
        ("gzip;q=0, *", False), ("br;q=1, *;q=0.1", True),
    ],
)  # fmt: skip
def test_gzip_accepted(header: str, accepted: bool) -> None:
    assert gzip_accepted(header) is accepted


def test_name_filter() -> None:
    assert name_filter(b"") is None
    assert name_filter(b"foo=bar") is None
    assert name_filter(b"name[]=a&name[]=b&name[]=a") == frozenset({"a", "b"})
    assert name_filter(b"name%5B%5D=a%20b") == frozenset({"a b"})
    with pytest.raises(ValueError, match=str(MAX_NAMES)):
        name_filter("&".join(f"name[]=m{i}" for i in range(MAX_NAMES + 1)).encode())
