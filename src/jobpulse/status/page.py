"""The public page: one server-rendered HTML document, no JavaScript, light and dark by the reader's setting.

Every piece of text that came from outside (alert annotations, operator messages, component names) goes
through :func:`html.escape`; the page sets a Content-Security-Policy that forbids scripts altogether.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from jobpulse.status.components import DayBar, uptime_ratio
from jobpulse.status.model import STATUS_TEXT, Incident, Maintenance, iso
from jobpulse.status.service import Snapshot
from jobpulse.status.slos import SLOReading

__all__ = ["CONTENT_SECURITY_POLICY", "render_page"]

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'"

CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --card: #f6f8fa;
  --line: #d0d7de; --ok: #1a7f37; --maint: #0969da; --minor: #9a6700; --major: #bc4c00; --critical: #cf222e;
  --none: #d0d7de; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --card: #161b22; --line: #30363d; --ok: #3fb950;
    --maint: #58a6ff; --minor: #d29922; --major: #f0883e; --critical: #f85149; --none: #30363d; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
main, header, footer { max-width: 56rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.75rem; }
h3 { font-size: 1.05rem; margin: 0; }
a { color: var(--maint); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem; }
.banner { border-radius: .5rem; padding: 1rem 1.25rem; font-weight: 600; color: #fff; font-size: 1.15rem; }
.banner.none { background: var(--ok); } .banner.minor { background: var(--minor); }
.banner.major { background: var(--major); } .banner.critical { background: var(--critical); }
.banner.maintenance { background: var(--maint); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem 1.25rem;
  margin-bottom: .75rem; }
.components { list-style: none; padding: 0; margin: 0; }
.component { border-bottom: 1px solid var(--line); padding: .9rem 0; }
.component:last-child { border-bottom: 0; }
.row { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
.status { font-weight: 600; white-space: nowrap; }
.status::before { content: ""; display: inline-block; width: .7em; height: .7em; border-radius: 50%;
  margin-right: .4em; background: currentColor; vertical-align: baseline; }
.operational { color: var(--ok); } .under_maintenance { color: var(--maint); }
.degraded_performance { color: var(--minor); } .partial_outage { color: var(--major); }
.major_outage { color: var(--critical); }
.muted { color: var(--muted); font-size: .9rem; }
.bars { display: flex; gap: 1px; height: 2rem; margin: .5rem 0 .25rem; padding: 0; list-style: none; }
.bars li { flex: 1 1 0; min-width: 1px; border-radius: 1px; background: var(--ok); }
.bars li.under_maintenance { background: var(--maint); } .bars li.degraded_performance { background: var(--minor); }
.bars li.partial_outage { background: var(--major); } .bars li.major_outage { background: var(--critical); }
.bars li.nodata { background: var(--none); }
.slos { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .5rem; margin-top: .5rem;
  padding: 0; list-style: none; }
.slos li { border: 1px solid var(--line); border-radius: .4rem; padding: .5rem .75rem; font-size: .9rem; }
.meter { height: .4rem; background: var(--line); border-radius: .2rem; overflow: hidden; margin-top: .25rem; }
.meter span { display: block; height: 100%; background: var(--ok); }
.meter span.low { background: var(--critical); }
.incident h3 { margin-bottom: .25rem; }
.updates { list-style: none; padding: 0; margin: .5rem 0 0; }
.updates li { border-left: 3px solid var(--line); padding: .1rem 0 .1rem .75rem; margin-bottom: .5rem; }
.updates p { margin: .15rem 0; white-space: pre-line; overflow-wrap: anywhere; }
.tag { display: inline-block; font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .03em;
  border: 1px solid currentColor; border-radius: .25rem; padding: 0 .35rem; }
.impact-critical { color: var(--critical); } .impact-major { color: var(--major); }
.impact-minor { color: var(--minor); } .impact-none { color: var(--muted); }
footer { padding: 2rem 1rem; }
"""


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return f'<time datetime="{iso(ts)}">{moment.strftime("%d %b %Y, %H:%M UTC")}</time>'


def _bars(bars: list[DayBar]) -> str:
    items = []
    for bar in bars:
        label = f"{bar.date}: {STATUS_TEXT[bar.status]}, {100 * bar.uptime:.2f}% uptime"
        if bar.incidents:
            label += " — " + "; ".join(bar.incidents)
        items.append(f'<li class="{bar.status}" title="{escape(label)}"></li>')
    return "".join(items)


def _slo(reading: SLOReading) -> str:
    if reading.attainment is None:
        value = "no data yet"
        meter = ""
    else:
        remaining = reading.budget_remaining if reading.budget_remaining is not None else 0.0
        width = max(0.0, min(1.0, remaining)) * 100
        low = " low" if remaining < 0.25 else ""
        value = (
            f"{reading.attainment:.3f}% (objective {reading.objective:g}%), error budget left {100 * remaining:.1f}%"
        )
        meter = (
            f'<div class="meter" role="img" aria-label="error budget left: {100 * remaining:.1f}%">'
            f'<span class="{low.strip()}" style="width:{width:.1f}%"></span></div>'
        )
    title = escape(reading.description or reading.name)
    period = escape(reading.period)
    return f'<li><strong>{title}</strong><br><span class="muted">over {period}: {escape(value)}</span>{meter}</li>'


def _incident(incident: Incident, names: dict[str, str]) -> str:
    affected = ", ".join(escape(names.get(n, n)) for n in sorted(incident.components))
    updates = "".join(
        f'<li><span class="tag">{escape(u.status)}</span> {_when(u.created_at)}<p>{escape(u.body)}</p></li>'
        for u in incident.updates
    )
    resolved = f" · resolved {_when(incident.resolved_at)}" if incident.resolved_at is not None else ""
    ident = escape(incident.id)
    return (
        f'<article class="card incident" id="incident-{ident}" aria-labelledby="title-{ident}">'
        f'<h3 id="title-{ident}">{escape(incident.name)}</h3>'
        f'<p class="muted"><span class="tag impact-{escape(incident.impact)}">{escape(incident.impact)} impact</span> '
        f"started {_when(incident.started_at)}{resolved}"
        + (f" · affects {affected}" if affected else "")
        + f'</p><ol class="updates" reversed>{updates}</ol></article>'
    )


def _maintenance(item: Maintenance, names: dict[str, str], now: float) -> str:
    affected = ", ".join(escape(names.get(n, n)) for n in item.components)
    return (
        f'<article class="card"><h3>{escape(item.name)}</h3><p class="muted"><span class="tag">'
        f"{escape(item.status(now).replace('_', ' '))}</span> "
        f"{_when(item.scheduled_for)} – {_when(item.scheduled_until)}"
        f" · affects {affected}</p><p>{escape(item.body)}</p></article>"
    )


def render_page(snapshot: Snapshot, *, feed_path: str, summary_path: str, history_path: str = "history") -> str:
    page = snapshot.page
    indicator, description = snapshot.indicator
    names = {c.name: c.title for c in page.components}
    components = []
    for state in snapshot.components:
        c = state.component
        bars = snapshot.bars.get(c.name, [])
        slos = [snapshot.slos[s] for s in c.slos if s in snapshot.slos]
        reason = f'<p class="muted">{escape("; ".join(state.reasons))}</p>' if state.reasons else ""
        components.append(
            f'<li class="component" id="component-{escape(c.name)}">'
            f'<div class="row"><h3>{escape(c.title)}</h3>'
            f'<span class="status {state.status}">{STATUS_TEXT[state.status]}</span></div>'
            + (f'<p class="muted">{escape(c.description)}</p>' if c.description else "")
            + reason
            + f'<ol class="bars" aria-label="{escape(c.title)}: daily status over {len(bars)} days">{_bars(bars)}</ol>'
            f'<div class="row muted"><span>{len(bars)} days ago</span>'
            f"<span>{100 * uptime_ratio(bars):.2f}% uptime</span><span>today</span></div>"
            + (
                f'<ul class="slos" aria-label="service level objectives">{"".join(_slo(r) for r in slos)}</ul>'
                if slos
                else ""
            )
            + "</li>"
        )
    unresolved = (
        "".join(_incident(i, names) for i in snapshot.unresolved) or '<p class="muted">No current incidents.</p>'
    )
    maintenances = "".join(_maintenance(m, names, snapshot.now) for m in snapshot.maintenances)
    history = "".join(_incident(i, names) for i in snapshot.history) or (
        f'<p class="muted">No incidents in the last {page.history_days} days.</p>'
    )
    title = escape(page.title)
    maintenance_section = (
        f'<section aria-labelledby="h-maint"><h2 id="h-maint">Scheduled maintenance</h2>{maintenances}</section>'
        if maintenances
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<link rel="alternate" type="application/atom+xml" title="{title}: incidents" href="{escape(feed_path)}">
<style>{CSS}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><h1>{title}</h1>
<p class="banner {indicator}" role="status">{escape(description)}</p></header>
<main id="main">
<section aria-labelledby="h-incidents"><h2 id="h-incidents">Current incidents</h2>{unresolved}</section>
{maintenance_section}
<section aria-labelledby="h-components"><h2 id="h-components">Components</h2>
<div class="card"><ul class="components">{"".join(components)}</ul></div></section>
<section aria-labelledby="h-history"><h2 id="h-history">Incident history</h2>{history}
<p class="muted">Every incident of the last {page.history_days} days:
<a href="{escape(history_path)}">history (JSON)</a>, <a href="{escape(feed_path)}">Atom feed</a>.</p></section>
</main>
<footer class="muted">Updated {_when(snapshot.now)} · <a href="{escape(feed_path)}">Atom feed</a> ·
<a href="{escape(summary_path)}">summary.json</a> · jobpulse</footer>
</body>
</html>
"""
