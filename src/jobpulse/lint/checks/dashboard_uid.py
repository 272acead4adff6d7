"""dashboard/uid: a Grafana dashboard without a stable, valid uid."""

from __future__ import annotations

import re

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@check("dashboard/uid", severity=WARNING)
def dashboard_uid(ctx: Context) -> None:
    """Without a uid Grafana invents one per import, so links and provisioning updates break."""
    for dashboard in ctx.doc.dashboards:
        uid = dashboard.data.get("uid")
        if uid is None or uid == "":
            ctx.report(
                dashboard.path,
                f"dashboard {dashboard.title!r} has no uid: Grafana makes up a new one on every import",
                hint="set a uid of letters, digits, - and _ (at most 40), derived from the title",
                subjects=(dashboard.title,),
            )
        elif not isinstance(uid, str) or not UID.match(uid):
            ctx.report(
                (*dashboard.path, "uid"),
                f"dashboard uid {uid!r} is not letters, digits, - and _ (at most 40 characters)",
                hint="Grafana rejects or rewrites such uids; pick a short slug",
                subjects=(dashboard.title,),
            )
