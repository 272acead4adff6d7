"""What a heartbeat is in Redis: its key, the stored record, the checks on worker ids and info."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobpulse.runtime.labels import OTHER as OTHER  # the value past max_workers

LOGGER = logging.getLogger("jobpulse.heartbeat")
KEY_PREFIX = "jobpulse:heartbeat:"
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
INFO_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_INFO_ITEMS = 20
MAX_INFO_VALUE = 200
METRIC_NAME = "worker_last_heartbeat_timestamp_seconds"


def valid_worker_id(worker: str) -> bool:
    """1-128 characters of letters, digits and ``. _ : @ -``, starting with a letter or digit."""
    return bool(WORKER_ID.match(worker))


def clean_info(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keep a few scalar items with plain keys; long strings are cut (the info is shown on an endpoint)."""
    out: dict[str, Any] = {}
    for key, value in (info or {}).items():
        if len(out) >= MAX_INFO_ITEMS:
            break
        if not isinstance(key, str) or not INFO_KEY.match(key):
            continue
        if isinstance(value, bool) or value is None or isinstance(value, int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = "".join(ch for ch in value[:MAX_INFO_VALUE] if ch.isprintable())
    return out


@dataclass(frozen=True)
class WorkerHeartbeat:
    """One live worker, as read from Redis."""

    worker: str
    last_seen: float  # Unix time of the last beat
    started_at: float | None
    ttl_seconds: float | None  # time left before the key expires
    interval_seconds: float | None
    info: dict[str, Any] = field(default_factory=dict)

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "worker": self.worker,
            "status": "alive",
            "last_heartbeat": round(self.last_seen, 3),
            "age_seconds": round(max(0.0, now - self.last_seen), 3),
            "expires_in_seconds": None if self.ttl_seconds is None else round(self.ttl_seconds, 3),
            "interval_seconds": self.interval_seconds,
            "started_at": None if self.started_at is None else round(self.started_at, 3),
            "info": self.info,
        }

    @classmethod
    def parse(cls, worker: str, raw: bytes | str | None, pttl: int | None) -> WorkerHeartbeat | None:
        """From a stored value; ``None`` when it is missing or not ours."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            last_seen = float(data["ts"])
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(data, dict):
            return None
        started = data.get("started_at")
        interval = data.get("interval")
        info = data.get("info")
        return cls(
            worker=worker,
            last_seen=last_seen,
            started_at=float(started) if isinstance(started, int | float) else None,
            ttl_seconds=pttl / 1000.0 if pttl is not None and pttl >= 0 else None,
            interval_seconds=float(interval) if isinstance(interval, int | float) else None,
            info=clean_info(info if isinstance(info, dict) else None),
        )


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
