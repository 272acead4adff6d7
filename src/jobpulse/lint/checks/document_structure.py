"""document/structure: parts of a rule file, dashboard or monitor that are not what the format expects."""

from __future__ import annotations

from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check


@check("document/structure", severity=ERROR)
def document_structure(ctx: Context) -> None:
    """A recognised document has parts its format does not allow (a rule without expr, panels that are not a list)."""
    for path, message in ctx.doc.structure:
        ctx.report(path, message, hint="see the format's reference; lint skips what it cannot read")
