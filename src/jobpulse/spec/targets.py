"""Rule engines a rule file is written for, and which rule-file fields each accepts since which version.

Prometheus, vmalert, the Thanos Ruler and the Mimir ruler read the same ``groups:`` format, but each has
fields the others refuse — and all of them refuse a whole file over one field they do not know. The
table below is what ``jobpulse lint --target`` (check ``rules/target``) and ``jobpulse build --target``
use; every version in it comes from the project's changelog or source (see docs/checks/rules_target.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal

__all__ = [
    "DEFAULT_TARGET",
    "FIELDS",
    "TARGETS",
    "Field",
    "RuleTarget",
    "Support",
    "Verdict",
    "field_for",
    "verdict",
]

#: target name → how its documentation names it
TARGETS: dict[str, str] = {
    "prometheus": "Prometheus",
    "vmalert": "vmalert",
    "thanos": "Thanos Ruler",
    "mimir": "Mimir ruler",
}

_TARGET = re.compile(r"^(?P<name>[a-z]+)(?:@v?(?P<version>\d+(?:\.\d+){0,2}))?$")


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = [*(int(p) for p in text.split(".")), 0, 0, 0][:3]
    return major, minor, patch


@dataclass(frozen=True)
class RuleTarget:
    """A rule engine, optionally pinned to the version that runs (``vmalert@1.79``)."""

    name: str
    version: tuple[int, int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> RuleTarget:
        """``prometheus``, ``vmalert@1.79``, ``thanos@0.34.0``; a ValueError names the accepted forms."""
        match = _TARGET.match(text.strip())
        if match is None or match["name"] not in TARGETS:
            names = ", ".join(TARGETS)
            raise ValueError(f"expected a target {names}, optionally with @VERSION (vmalert@1.79), got {text!r}")
        version = match["version"]
        return cls(match["name"], _version(version) if version else None)

    @property
    def title(self) -> str:
        return TARGETS[self.name]

    @property
    def version_text(self) -> str:
        if self.version is None:
            return ""
        major, minor, patch = self.version
        return f"{major}.{minor}.{patch}"

    def __str__(self) -> str:
        return f"{self.name}@{self.version_text}" if self.version else self.name

    def describe(self) -> str:
        """``vmalert 1.79.0`` or ``vmalert``."""
        return f"{self.title} {self.version_text}" if self.version else self.title


DEFAULT_TARGET = RuleTarget("prometheus")


@dataclass(frozen=True)
class Support:
    """A target accepts the field from ``since`` on (``None``: in every version jobpulse knows of)."""

    since: str | None
    source: str  # where the version comes from: changelog entry, pull request, source file

    @property
    def since_version(self) -> tuple[int, int, int] | None:
        return None if self.since is None else _version(self.since)


ALWAYS = Support(None, "part of the format since the first release")


@dataclass(frozen=True)
class Field:
    """A rule-file field: where it goes, and per target since when it is accepted.

    A target missing from ``support`` has not been checked (nothing is reported); ``None`` means the
    target refuses the field in every version.
    """

    name: str
    level: Literal["group", "rule"]
    support: Mapping[str, Support | None]
    instead: str = ""  # what to use on a target that refuses it
    alerts_only: bool = False


def _s(since: str | None, source: str) -> Support:
    return Support(since, source)


_EVERYWHERE = dict.fromkeys(TARGETS, ALWAYS)
_VMALERT_ONLY = {"prometheus": None, "thanos": None}
_MIMIR_ONLY = {"prometheus": None, "vmalert": None, "thanos": None, "mimir": ALWAYS}
_VM = "VictoriaMetrics CHANGELOG"

FIELDS: tuple[Field, ...] = (
    # -- group fields every engine reads
    Field("name", "group", _EVERYWHERE),
    Field("interval", "group", _EVERYWHERE),
    Field("rules", "group", _EVERYWHERE),
    # -- group fields added later
    Field(
        "limit",
        "group",
        {
            "prometheus": _s("2.31.0", "Prometheus CHANGELOG 2.31.0: Rules: limit alerts or series (#9260)"),
            "vmalert": _s("1.78.0", f"{_VM} v1.78.0: support `limit` param per-group (#2676)"),
            "thanos": _s("0.24.0", "Thanos CHANGELOG v0.24.0: Rule: Support ruleGroup limit (#4868)"),
        },
        instead="drop `limit` and bound the rule's output in its expression (topk, or a tighter selector)",
    ),
    Field(
        "query_offset",
        "group",
        {
            "prometheus": _s("2.53.0", "Prometheus CHANGELOG 2.53.0: Rules: Add new option `query_offset` (#14061)"),
            "vmalert": None,
            "thanos": _s("0.38.0", "Thanos CHANGELOG v0.38.0: Rule: Add support for query offset (#8158)"),
            "mimir": _s("2.13.0", "Mimir CHANGELOG 2.13.0: `evaluation_delay` deprecated, use `query_offset` (#8295)"),
        },
        instead="on vmalert use the group's `eval_delay` (vmalert 1.95.0) or the -rule.evalDelay flag",
    ),
    Field(
        "labels",
        "group",
        {
            "prometheus": _s("3.0.0", "Prometheus rulefmt.RuleGroup.Labels, first tagged v3.0.0 (commit f253d36)"),
            "vmalert": _s("1.65.0", f"{_VM} v1.65.0: set additional labels per group via `labels` (#1471)"),
            "thanos": _s("0.38.0", "Thanos v0.38.0 vendors Prometheus 3.1's rulefmt (go.mod v0.301.0)"),
        },
        instead="put the labels on each rule instead",
    ),
    Field(
        "partial_response_strategy",
        "group",
        {"prometheus": None, "vmalert": None, "thanos": ALWAYS},
        instead="it is a Thanos Ruler field: drop it for other engines",
    ),
    # -- Mimir ruler only
    Field("source_tenants", "group", _MIMIR_ONLY, instead="federated rule groups exist only in the Mimir ruler"),
    Field(
        "evaluation_delay",
        "group",
        _MIMIR_ONLY,
        instead="use `query_offset` (Prometheus 2.53.0, Mimir 2.13.0, which deprecated `evaluation_delay`)",
    ),
    Field("align_evaluation_time_on_interval", "group", _MIMIR_ONLY, instead="a Mimir ruler field: drop it"),
    # -- vmalert only
    Field("type", "group", {**_VMALERT_ONLY, "vmalert": ALWAYS}, instead="a vmalert field (graphite rules): drop it"),
    Field("concurrency", "group", {**_VMALERT_ONLY, "vmalert": ALWAYS}, instead="a vmalert field: drop it"),
    Field(
        "params",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.70.0", f"{_VM} v1.70.0: per-group `params` (#1892)")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "headers",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.80.0", f"{_VM} v1.80.0: group-level `headers` (#2860)")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "notifier_headers",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.91.0", f"{_VM} v1.91.0: per-group notifier headers (#4088)")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "eval_offset",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.94.0", f"{_VM} v1.94.0: `eval_offset` for groups (#3409)")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "eval_delay",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.95.0", f"{_VM} v1.95.0: `eval_delay` for groups (#5155)")},
        instead="on Prometheus 2.53+ the equivalent is `query_offset`",
    ),
    Field(
        "eval_alignment",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.95.0", f"{_VM} v1.95.0: `eval_alignment` for groups")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "debug",
        "group",
        {**_VMALERT_ONLY, "vmalert": _s("1.117.0", f"{_VM} v1.117.0: `debug` option for groups")},
        instead="a vmalert field: drop it",
    ),
    # -- rule fields every engine reads
    Field("alert", "rule", _EVERYWHERE),
    Field("record", "rule", _EVERYWHERE),
    Field("expr", "rule", _EVERYWHERE),
    Field("for", "rule", _EVERYWHERE, alerts_only=True),
    Field("labels", "rule", _EVERYWHERE),
    Field("annotations", "rule", _EVERYWHERE, alerts_only=True),
    # -- rule fields added later
    Field(
        "keep_firing_for",
        "rule",
        {
            "prometheus": _s("2.42.0", "Prometheus CHANGELOG 2.42.0: 'keep_firing_for' on alerting rules (#11827)"),
            "vmalert": _s("1.92.0", f"{_VM} v1.92.0: support `keep_firing_for` for alerting rules (#4529)"),
            "thanos": _s("0.34.0", "Thanos CHANGELOG v0.34.0: Ruler: Added `keep_firing_for` (#6943)"),
            "mimir": _s("2.7.0", "Mimir CHANGELOG 2.7.1 (2.7.0): Ruler: added `keep_firing_for` support (#4099)"),
        },
        instead="drop `keep_firing_for` (the alert then resolves on the first evaluation without a result)",
        alerts_only=True,
    ),
    Field(
        "debug",
        "rule",
        {**_VMALERT_ONLY, "vmalert": _s("1.82.0", f"{_VM} v1.82.0: `debug` mode for alerting rules")},
        instead="a vmalert field: drop it",
    ),
    Field(
        "update_entries_limit",
        "rule",
        {**_VMALERT_ONLY, "vmalert": _s("1.86.0", f"{_VM} v1.86.0: per-rule `update_entries_limit`")},
        instead="a vmalert field: drop it",
    ),
)

_BY_KEY = {(f.level, f.name): f for f in FIELDS}


def field_for(level: Literal["group", "rule"], name: str) -> Field | None:
    """The known field ``name`` at ``level``, or None when no engine jobpulse knows reads it."""
    return _BY_KEY.get((level, name))


class Verdict(Enum):
    OK = "ok"  # accepted (or not checked for this target)
    NEVER = "never"  # refused by every version of the target
    TOO_OLD = "too_old"  # refused by the pinned version, accepted from a later one
    UNKNOWN_FIELD = "unknown_field"  # no engine jobpulse knows reads it


def verdict(target: RuleTarget, level: Literal["group", "rule"], name: str) -> tuple[Verdict, Support | None]:
    """Whether ``target`` accepts the field, and the support entry that says since when."""
    known = field_for(level, name)
    if known is None:
        return Verdict.UNKNOWN_FIELD, None
    if target.name not in known.support:
        return Verdict.OK, None
    support = known.support[target.name]
    if support is None:
        return Verdict.NEVER, None
    since = support.since_version
    if since is None:
        return Verdict.OK, support
    if target.version is None:  # not pinned: a current release
        return Verdict.OK, support
    return (Verdict.TOO_OLD if target.version < since else Verdict.OK), support
