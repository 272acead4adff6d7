"""An HTTP endpoint as a health dependency. Needs ``pip install 'jobpulse[http]'`` (httpx).

Also importable as ``jobpulse.runtime.health.HttpCheck``, where it lived before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from jobpulse.extras import require
from jobpulse.redaction import url_secrets
from jobpulse.runtime.health import Check

__all__ = ["HttpCheck"]


class HttpCheck(Check):
    """GET ``url``; up when the status is below 400 (or in ``expect_status``). Needs ``jobpulse[http]``."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        critical: bool = False,
        timeout: float = 2.0,
        expect_status: Iterable[int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        self._httpx = require("httpx", extra="http", feature="HttpCheck")
        self.url = url
        self.expect_status = frozenset(expect_status) if expect_status is not None else None
        self._headers = dict(headers or {})
        self._client: Any = None

    async def probe(self) -> str | None:
        if self._client is None:
            # trust_env=False: a proxy from the environment must not see (or break) the probe
            self._client = self._httpx.AsyncClient(timeout=self.timeout, trust_env=False, follow_redirects=False)
        response = await self._client.get(self.url, headers=self._headers)
        code = response.status_code
        ok = code in self.expect_status if self.expect_status is not None else code < 400
        if not ok:
            raise RuntimeError(f"HTTP {code}")
        return f"HTTP {code}"

    def secrets(self) -> Sequence[str]:
        return [*url_secrets(self.url), *self._headers.values()]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
