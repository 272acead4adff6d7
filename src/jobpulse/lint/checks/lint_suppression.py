"""lint/suppression: suppressions without a reason, naming an unknown check, or matching nothing.

The runner reports these after applying suppressions (see :mod:`jobpulse.lint.suppress`); this module
registers the id so that it has a doc page and can be listed.
"""

from __future__ import annotations

from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check


@check("lint/suppression", severity=WARNING)
def lint_suppression(ctx: Context) -> None:
    """A ``# jobpulse: disable=`` comment or ``lint.allow`` entry without a reason, for an unknown check, or unused."""
    del ctx  # reported by the runner once every other check has run
