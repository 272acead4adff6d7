"""A public status page from the spec: components tied to health checks, heartbeats and SLOs, incidents from
Alertmanager's webhook, history in SQLite or PostgreSQL. See docs/status-page.md."""

from jobpulse.status.app import StatusApp
from jobpulse.status.service import Snapshot, StatusService
from jobpulse.status.store import DeliveryResult, StatusStore
from jobpulse.status.webhook import PayloadError, WebhookPayload, parse_payload

__all__ = [
    "DeliveryResult",
    "PayloadError",
    "Snapshot",
    "StatusApp",
    "StatusService",
    "StatusStore",
    "WebhookPayload",
    "parse_payload",
]
