"""PostgreSQL as a health dependency. Needs ``pip install 'jobpulse[postgres]'`` (psycopg 3).

Also importable as ``jobpulse.runtime.health.PostgresCheck``, where it lived before.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

from jobpulse.extras import require
from jobpulse.redaction import url_secrets
from jobpulse.runtime.health import Check

__all__ = ["PostgresCheck"]


class PostgresCheck(Check):
    """Connect with ``dsn`` and run ``SELECT 1`` (a fresh connection each run, so a check never holds a
    connection between runs). Needs ``jobpulse[postgres]`` (psycopg 3)."""

    def __init__(self, name: str = "postgres", *, dsn: str, critical: bool = True, timeout: float = 2.0) -> None:
        super().__init__(name, critical=critical, timeout=timeout)
        self._psycopg = require("psycopg", extra="postgres", feature="PostgresCheck")
        self._dsn = dsn
        self._secrets = url_secrets(dsn)
        with contextlib.suppress(Exception):
            params = self._psycopg.conninfo.conninfo_to_dict(dsn)
            self._secrets += [str(params[k]) for k in ("password", "sslpassword") if params.get(k)]

    async def probe(self) -> str | None:
        connect_timeout = max(1, math.ceil(self.timeout))
        conn = await self._psycopg.AsyncConnection.connect(self._dsn, connect_timeout=connect_timeout)
        try:
            cursor = await conn.execute("SELECT 1")
            row = await cursor.fetchone()
            if row != (1,):
                raise RuntimeError("SELECT 1 returned an unexpected row")
        finally:
            await conn.close()
        return "ok"

    def secrets(self) -> Sequence[str]:
        return self._secrets
