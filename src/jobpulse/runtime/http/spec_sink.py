"""The sink for ``MetricsMiddleware.from_telemetry``: spec catalogue metrics, through their bounded instruments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jobpulse.runtime.http.presets import Measure, Role
from jobpulse.runtime.http.sink import STATUS, STATUS_CLASS, Sink
from jobpulse.runtime.track import warn_unset

if TYPE_CHECKING:
    from jobpulse.runtime.metrics import Instrument, Telemetry

_ROLE_BY_LABEL: dict[str, Role] = {
    "method": "method",
    "route": "route",
    "path": "route",
    "handler": "route",
    "endpoint": "route",
    "status_code": "status",
    "status": "status",
    "code": "status",
    "status_class": "status_class",
    "app_name": "app_name",
    "app": "app_name",
}
_SPEC_TYPES: dict[Measure, tuple[str, ...]] = {
    "requests": ("counter",),
    "duration": ("histogram",),
    "first_byte": ("histogram",),
    "response_size": ("histogram", "counter"),
    "in_progress": ("gauge",),
}


class SpecSink(Sink):
    """Records into metrics of the spec's catalogue, through their bounded, cached instruments."""

    def __init__(
        self, telemetry: Telemetry, names: Mapping[Measure, str], app_name: str, constants: Mapping[str, str] = {}
    ) -> None:
        self.app_name = app_name
        # a constant label's "role" is its name behind "=": its value never changes
        self._constants = {f"={label}": value for label, value in constants.items()}
        # the rollout track (jobpulse.runtime.track) is a constant too, for the metrics that declare its label
        track = telemetry.track
        wanting: list[str] = []
        self._parts: list[tuple[Measure, Instrument, tuple[str, ...]]] = []
        for measure, name in names.items():
            if measure not in _SPEC_TYPES:
                raise ValueError(f"unknown HTTP measure {measure!r}; use one of {', '.join(_SPEC_TYPES)}")
            instrument = telemetry.metric(name)
            if instrument.metric.type not in _SPEC_TYPES[measure]:
                raise ValueError(
                    f"{name} is a {instrument.metric.type}; {measure} needs a {' or '.join(_SPEC_TYPES[measure])}"
                )
            roles: list[str] = []
            for label in instrument.names:
                if label in constants:
                    roles.append(f"={label}")
                    continue
                if label == track.label:
                    self._constants[f"={label}"] = track.value
                    roles.append(f"={label}")
                    wanting.append(name)
                    continue
                role = _ROLE_BY_LABEL.get(label)
                if role is None or (measure == "in_progress" and role not in ("method", "app_name")):
                    raise ValueError(f"{name}: the HTTP middleware cannot fill label {label!r}")
                roles.append(role)
            self._parts.append((measure, instrument, tuple(roles)))
        warn_unset(track, "MetricsMiddleware", wanting)
        self._cells: dict[tuple[str, str, int], list[tuple[Measure, Any]]] = {}
        self._gauges: dict[str, list[Any]] = {}

    def _values(self, roles: tuple[str, ...], method: str, route: str, status: int) -> tuple[str, ...]:
        pick = {
            "method": method,
            "route": route,
            "status": STATUS.get(status, "0"),
            "status_class": STATUS_CLASS.get(status, "0xx"),
            "app_name": self.app_name,
            **self._constants,
        }
        return tuple(pick[role] for role in roles)

    def begin(self, method: str) -> None:
        gauges = self._gauges.get(method)
        if gauges is None:
            gauges = self._gauges[method] = [
                instrument.child(self._values(roles, method, "", 0))
                for measure, instrument, roles in self._parts
                if measure == "in_progress"
            ]
        for gauge in gauges:
            gauge.inc()

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        for gauge in self._gauges[method]:
            gauge.dec()
        key = (method, route, status)
        cell = self._cells.get(key)
        if cell is None:
            cell = []
            clean = True
            for measure, instrument, roles in self._parts:
                if measure != "in_progress":
                    child, ok = instrument.resolve(self._values(roles, method, route, status))
                    cell.append((measure, child))
                    clean = clean and ok
            if clean:
                self._cells[key] = cell
        for measure, child in cell:
            if measure == "requests":
                child.inc()
            elif measure == "duration":
                child.observe(duration)
            elif measure == "first_byte":
                if first_byte is not None:
                    child.observe(first_byte)
            elif measure == "response_size":
                if hasattr(child, "observe"):
                    child.observe(size)
                else:
                    child.inc(size)
