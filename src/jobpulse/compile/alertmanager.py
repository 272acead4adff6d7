"""An Alertmanager configuration from the spec: a receiver per severity, grouping by alert name and
service, and inhibition of an SLO's ticket alerts while a page alert of the same SLO fires."""

from __future__ import annotations

from typing import Any

from jobpulse.spec.model import Spec


def severities(spec: Spec) -> list[str]:
    """Every severity the spec's alerts can carry, in first-seen order."""
    found: list[str] = [a.severity for a in spec.alerts]
    for slo in spec.slos:
        found += [t.severity for t in slo.tiers]
        if slo.absent_enabled:
            found.append(slo.absent_severity)
    return list(dict.fromkeys(found))


def receiver_for(spec: Spec) -> dict[str, str]:
    """severity → the (first) receiver its alerts reach."""
    config = spec.alertmanager
    mapping: dict[str, str] = {}
    if not config.receivers:
        return {s: s for s in severities(spec)}
    for receiver in config.receivers:
        for severity in receiver.severities:
            mapping.setdefault(severity, receiver.name)
    for severity in severities(spec):
        mapping.setdefault(severity, config.default_receiver)
    return mapping


def _matcher(severities: list[str]) -> str:
    if len(severities) == 1:
        return f'severity="{severities[0]}"'
    return f'severity=~"{"|".join(severities)}"'


STATUS_PAGE_RECEIVER = "status-page"


def status_page_route(spec: Spec) -> dict[str, Any]:
    """First in the tree, with ``continue``: alerts of public components also reach their usual receivers."""
    assert spec.status_page is not None
    names = "|".join(spec.status_page.alert_names)
    return {"receiver": STATUS_PAGE_RECEIVER, "matchers": [f'alertname=~"{names}"'], "continue": True}


def status_page_receiver(spec: Spec) -> dict[str, Any]:
    """The status page's webhook: every alert of a group (``max_alerts: 0``), resolved ones too, a bearer token."""
    page = spec.status_page
    assert page is not None
    webhook = {
        "url": page.webhook_url,
        "send_resolved": True,
        "max_alerts": 0,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": page.credentials_file}},
    }
    return {"name": STATUS_PAGE_RECEIVER, "webhook_configs": [webhook]}


def alertmanager_config(spec: Spec) -> dict[str, Any]:
    config = spec.alertmanager
    routes: list[dict[str, Any]] = []
    receivers: list[dict[str, Any]] = []
    if config.default_receiver not in {r.name for r in config.receivers}:
        receivers.append({"name": config.default_receiver})
    if config.receivers:
        for receiver in config.receivers:
            route: dict[str, Any] = {"receiver": receiver.name, "matchers": [_matcher(receiver.severities)]}
            if receiver.continue_:
                route["continue"] = True
            routes.append(route)
            body: dict[str, Any] = {"name": receiver.name}
            if receiver.webhook_url:
                body["webhook_configs"] = [{"url": receiver.webhook_url, "send_resolved": True}]
            body.update(receiver.config)
            receivers.append(body)
    else:
        for severity in severities(spec):
            routes.append({"receiver": severity, "matchers": [_matcher([severity])]})
            receivers.append({"name": severity})
    if spec.status_page is not None and spec.status_page.alert_names:
        routes.insert(0, status_page_route(spec))
        receivers.append(status_page_receiver(spec))
    inhibit: list[dict[str, Any]] = []
    if config.inhibit_tickets_by_pages:
        for slo in spec.slos:
            pages = sorted({t.severity for t in slo.tiers if t.kind == "page"})
            tickets = sorted({t.severity for t in slo.tiers if t.kind == "ticket"} - set(pages))
            if pages and tickets:
                inhibit.append(
                    {
                        "source_matchers": [_matcher(pages), f'slo="{slo.name}"'],
                        "target_matchers": [_matcher(tickets), f'slo="{slo.name}"'],
                        "equal": ["slo", *slo.group_by],
                    }
                )
    out: dict[str, Any] = {
        "route": {
            "receiver": config.default_receiver,
            "group_by": list(config.group_by),
            "group_wait": config.group_wait,
            "group_interval": config.group_interval,
            "repeat_interval": config.repeat_interval,
            "routes": routes,
        },
    }
    if inhibit:
        out["inhibit_rules"] = inhibit
    out["receivers"] = receivers
    return out
