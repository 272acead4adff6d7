"""Shared CLI helpers: spec loading with exit code 2, consistent messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from jobpulse.redaction import redact_urls
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Spec

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``jobpulse: message`` (never a URL's password: ``--url http://u:pw@host`` comes back in errors)."""
    click.echo(f"jobpulse: {redact_urls(message, '***')}", err=True)
    sys.exit(code)


def load_or_exit(path: str | Path) -> Spec:
    """Load a spec; on problems print one line each (file:line:col: error: ...) and exit 2."""
    try:
        return load_spec(path)
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_USAGE)
