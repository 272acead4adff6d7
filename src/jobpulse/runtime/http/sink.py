"""Where a finished request is recorded: the interface both sinks implement, and the status label values."""

from __future__ import annotations

STATUS = {code: str(code) for code in range(100, 600)}
STATUS_CLASS = {code: f"{code // 100}xx" for code in range(100, 600)}


class Sink:
    """Where a finished request is recorded; two kinds: plain aggregation and spec instruments."""

    def begin(self, method: str) -> None:
        raise NotImplementedError

    def record(
        self, method: str, route: str, status: int, duration: float, first_byte: float | None, size: int
    ) -> None:
        raise NotImplementedError
