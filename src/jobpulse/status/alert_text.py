"""The words of an incident made from alerts: its title, the update listing the firing alerts, the resolution."""

from __future__ import annotations

from collections.abc import Mapping

from jobpulse.status.model import IMPACT_STATUS
from jobpulse.status.webhook import Alert, WebhookPayload

MAX_UPDATE_LINES = 20


def alert_summary(alertname: str, annotations: Mapping[str, str]) -> str:
    text = annotations.get("summary") or annotations.get("description") or ""
    return f"{alertname}: {text}" if text else alertname


def incident_title(payload: WebhookPayload, firing: list[tuple[str, dict[str, str], dict[str, str]]]) -> str:
    names = sorted({name for name, _, _ in firing})
    summary = payload.commonAnnotations.get("summary", "")
    if not summary and len(names) == 1:
        summary = next((a.get("summary", "") for _, _, a in firing if a.get("summary")), "")
    title = summary or (names[0] if len(names) == 1 else f"{len(names)} alerts: {', '.join(names)}")
    return title[:200]


def firing_text(firing: list[tuple[str, dict[str, str], dict[str, str]]]) -> str:
    lines = sorted({alert_summary(name, annotations) for name, _, annotations in firing})
    more = len(lines) - MAX_UPDATE_LINES
    shown = lines[:MAX_UPDATE_LINES] + ([f"… and {more} more"] if more > 0 else [])
    head = "1 alert is firing" if len(firing) == 1 else f"{len(firing)} alerts are firing"
    return head + ":\n" + "\n".join(shown)


def resolved_text(changed: list[Alert]) -> str:
    names = sorted({a.alertname for a in changed if a.status == "resolved"})
    return "All alerts resolved" + (f" ({', '.join(names)})." if names else ".")


def impact_status(impact: str) -> str:
    return IMPACT_STATUS.get(impact, "operational")
