"""An Atom feed (RFC 4287) of incidents: one entry per incident, updated with each incident update."""

from __future__ import annotations

from xml.sax.saxutils import escape

from jobpulse.status.model import Incident, iso
from jobpulse.status.service import Snapshot

__all__ = ["render_feed"]


def _entry(incident: Incident, base: str, names: dict[str, str]) -> str:
    link = f"{base}#incident-{incident.id}"
    body = "\n\n".join(f"[{u.status}] {iso(u.created_at)}\n{u.body}" for u in incident.updates)
    affected = ", ".join(names.get(n, n) for n in sorted(incident.components))
    summary = f"{incident.status} · {incident.impact} impact" + (f" · affects {affected}" if affected else "")
    return (
        "<entry>"
        f"<id>{escape(link)}</id>"
        f"<title>{escape(incident.name)}</title>"
        f'<link rel="alternate" type="text/html" href="{escape(link)}"/>'
        f"<published>{iso(incident.created_at)}</published>"
        f"<updated>{iso(incident.updated_at)}</updated>"
        f"<summary>{escape(summary)}</summary>"
        f'<content type="text">{escape(body)}</content>'
        "</entry>"
    )


def render_feed(snapshot: Snapshot, *, self_url: str, page_url: str) -> str:
    """``page_url``/``self_url``: absolute URLs of the page and of this feed."""
    names = {c.name: c.title for c in snapshot.page.components}
    incidents = sorted([*snapshot.unresolved, *snapshot.history], key=lambda i: (i.updated_at, i.id), reverse=True)
    updated = iso(max([i.updated_at for i in incidents], default=snapshot.now))
    entries = "".join(_entry(i, page_url, names) for i in incidents[:50])
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(page_url)}</id>"
        f"<title>{escape(snapshot.page.title)}: incidents</title>"
        f"<updated>{updated}</updated>"
        f'<link rel="self" type="application/atom+xml" href="{escape(self_url)}"/>'
        f'<link rel="alternate" type="text/html" href="{escape(page_url)}"/>'
        f"<author><name>{escape(snapshot.service)}</name></author>"
        f"{entries}</feed>\n"
    )
