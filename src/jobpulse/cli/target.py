"""The ``--target ENGINE[@VERSION]`` option shared by ``jobpulse lint`` and ``jobpulse build``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from jobpulse.spec.targets import TARGETS, RuleTarget

F = TypeVar("F", bound=Callable[..., Any])


def _parse(ctx: click.Context, param: click.Parameter, value: str | None) -> RuleTarget | None:
    if value is None:
        return None
    try:
        return RuleTarget.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def target_option(function: F) -> F:
    """Add ``--target`` (default: the spec's ``lint.target``, else prometheus)."""
    return click.option(
        "--target",
        metavar="ENGINE[@VERSION]",
        callback=_parse,
        default=None,
        help=(
            f"Rule engine the rule files are for: {', '.join(TARGETS)}; @VERSION pins the version that runs "
            "(vmalert@1.79) so that fields added later are reported too. Default: the spec's lint.target, "
            "else prometheus."
        ),
    )(function)
