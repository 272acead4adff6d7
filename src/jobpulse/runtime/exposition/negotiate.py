"""Which format and compression a scraper asked for: ``Accept``, ``Accept-Encoding`` and the ``name[]`` filter.

The format choice is prometheus_client's (``choose_encoder``): the first ``Accept`` entry that is
OpenMetrics 1.0 or newer (or ``text/plain`` 1.0 or newer) wins, with its ``escaping`` parameter;
anything else gets the Prometheus text format 0.0.4 with the default escaping. One difference: a version
that is not made of dotted numbers is skipped here, where prometheus_client fails the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from jobpulse.runtime.exposition.style import ESCAPINGS, UNDERSCORES

__all__ = ["OPENMETRICS", "TEXT", "Format", "gzip_accepted", "name_filter", "negotiate"]

_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")
#: A ``name[]`` filter longer than this is refused (it is a set of metric names, not a query language).
MAX_NAMES = 1000


@dataclass(frozen=True)
class Format:
    """An output format: OpenMetrics or the Prometheus text format, the name escaping, the Content-Type."""

    openmetrics: bool
    escaping: str
    version: str
    content_type: str


TEXT = Format(False, UNDERSCORES, "0.0.4", "text/plain; version=0.0.4; charset=utf-8")
OPENMETRICS = Format(True, UNDERSCORES, "1.0.0", "application/openmetrics-text; version=1.0.0; charset=utf-8")


def _params(tokens: list[str]) -> tuple[str, str]:
    """(version, escaping) of one Accept entry: the first of each, as prometheus_client reads them."""
    version = escaping = ""
    for token in tokens:
        if "=" not in token:
            continue
        key, value = token.strip().split("=", 1)
        if key == "version" and not version:
            version = value
        elif key == "escaping" and not escaping:
            escaping = value if value in ESCAPINGS else UNDERSCORES
    return version, escaping or UNDERSCORES


def _at_least_1(version: str) -> bool:
    return bool(_VERSION.fullmatch(version)) and tuple(int(p) for p in version.split(".")) >= (1, 0, 0)


def negotiate(accept: str) -> Format:
    """The format for an ``Accept`` header (prometheus_client's choice; ``TEXT`` when nothing matches)."""
    for entry in (accept or "").split(","):
        tokens = entry.split(";")
        media = tokens[0].strip()
        if media == "application/openmetrics-text":
            version, escaping = _params(tokens)
            if not version:
                return OPENMETRICS
            if _at_least_1(version):
                content_type = f"application/openmetrics-text; version={version}; charset=utf-8; escaping={escaping}"
                return Format(True, escaping, version, content_type)
        elif media == "text/plain":
            version, escaping = _params(tokens)
            if version and _at_least_1(version):
                content_type = f"text/plain; version=1.0.0; charset=utf-8; escaping={escaping}"
                return Format(False, escaping, version, content_type)
    return TEXT


def gzip_accepted(accept_encoding: str) -> bool:
    """``Accept-Encoding`` lists gzip (or ``*``) with a non-zero quality."""
    star = False
    for entry in (accept_encoding or "").split(","):
        tokens = entry.split(";")
        coding = tokens[0].strip().lower()
        quality = 1.0
        for token in tokens[1:]:
            key, _, value = token.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding == "gzip":
            return quality > 0
        if coding == "*":
            star = quality > 0
    return star


def name_filter(query_string: bytes) -> frozenset[str] | None:
    """The metric names of ``?name[]=a&name[]=b`` (prometheus_client's filter), or None when there is none.

    Raises ``ValueError`` for more than :data:`MAX_NAMES` names.
    """
    if b"name" not in query_string:
        return None
    params = parse_qs(query_string.decode("latin-1"), max_num_fields=MAX_NAMES + 100)
    names = params.get("name[]")
    if names is None:
        return None
    if len(names) > MAX_NAMES:
        raise ValueError(f"at most {MAX_NAMES} name[] parameters")
    return frozenset(names)
