"""Fit a rule file to the rule engine it is built for: drop the fields that engine would refuse.

``jobpulse build`` refuses a spec whose lint finds such a field (check ``rules/target``); with
``--ignore-lint-errors`` it builds anyway, and this is what keeps the written file loadable — every
dropped field is named in a build note.
"""

from __future__ import annotations

from typing import Any, Literal

from jobpulse.spec.targets import RuleTarget, Verdict, verdict

__all__ = ["fit_rule_file"]


def _kept(target: RuleTarget, level: Literal["group", "rule"], key: str) -> bool:
    return verdict(target, level, key)[0] is Verdict.OK


def fit_rule_file(content: dict[str, Any], target: RuleTarget) -> tuple[dict[str, Any], list[str]]:
    """``content`` (``{"groups": [...]}``) without the group and rule fields ``target`` refuses, and notes."""
    notes: list[str] = []
    groups: list[dict[str, Any]] = []
    for group in content.get("groups", []):
        kept_group: dict[str, Any] = {}
        for key, value in group.items():
            if key == "rules" or _kept(target, "group", key):
                kept_group[key] = value
            else:
                notes.append(f"group {group.get('name')}: dropped `{key}`, which {target.describe()} refuses")
        rules: list[dict[str, Any]] = []
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            kept_rule = {}
            for key, value in rule.items():
                if _kept(target, "rule", key):
                    kept_rule[key] = value
                else:
                    notes.append(f"rule {name}: dropped `{key}`, which {target.describe()} refuses")
            rules.append(kept_rule)
        kept_group["rules"] = rules
        groups.append(kept_group)
    return {**content, "groups": groups}, notes
