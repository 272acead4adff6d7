"""go_float and escaping against prometheus_client's own functions."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.openmetrics.exposition import ALLOWUTF8, _escape
from prometheus_client.utils import floatToGoString

from jobpulse.runtime.exposition.style import Style, escape_value, go_float

EDGES = [
    0.0, -0.0, 1.0, -1.0, 1e6, 999999.9999999999, 1e6 - 1e-9, 1234567.0, 1e15, 9999999999999998.0, 1e16, 1.5e16,
    1e-5, 1e-7, 5e-324, 1.7976931348623157e308, -1e7, -1e16, math.inf, -math.inf, math.nan, 3, -3, 10**7, 10**20,
    True, False,
]  # fmt: skip


def test_go_float_on_the_edges() -> None:
    for value in EDGES:
        assert go_float(value) == floatToGoString(value), value


@given(st.one_of(st.floats(), st.integers(-(10**30), 10**30)))
def test_go_float_is_float_to_go_string(value: float) -> None:
    assert go_float(value) == floatToGoString(value)


class FloatSubclass(float):
    def __repr__(self) -> str:
        return "not a float repr"


def test_go_float_on_a_float_subclass_uses_the_float_value() -> None:
    assert go_float(FloatSubclass(2.5)) == floatToGoString(FloatSubclass(2.5)) == "2.5"


@given(st.text())
def test_label_values_escaped_as_prometheus_client_does(value: str) -> None:
    assert escape_value(value) == _escape(value, ALLOWUTF8, lambda c, i: True)


def test_unknown_escaping_is_refused() -> None:
    try:
        Style(openmetrics=True, escaping="bogus")
    except ValueError as exc:
        assert "bogus" in str(exc)
    else:
        raise AssertionError("an unknown escaping scheme was accepted")
