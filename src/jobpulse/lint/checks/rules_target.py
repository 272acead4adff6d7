"""rules/target: a rule-file field the target rule engine (``--target``) refuses, with the version that added it."""

from __future__ import annotations

from typing import Any, Literal

from jobpulse.lint.documents import PROMETHEUS_RULE, RULES, SPEC
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.lint.source import PathKey
from jobpulse.spec.targets import DEFAULT_TARGET, RuleTarget, Verdict, field_for, verdict

#: engines that validate rules with Prometheus's rulefmt (vmalert ignores `for` on a recording rule)
_STRICT_RECORDING = frozenset({"prometheus", "thanos"})


@check("rules/target", severity=ERROR)
def rules_target(ctx: Context) -> None:
    """A field the target rule engine refuses makes it reject the whole rule file (lint --target)."""
    target = _target(ctx)
    data = ctx.doc.tree.data
    if ctx.doc.kind == SPEC:
        for i, alert in enumerate(_list(data.get("alerts"))):
            if isinstance(alert, dict) and "keep_firing_for" in alert:
                path: PathKey = ("alerts", i, "keep_firing_for")
                _judge(ctx, target, "rule", "keep_firing_for", path, f"alert {alert.get('name')}")
        return
    if ctx.doc.kind == RULES:
        base: PathKey = ("groups",)
        groups = data.get("groups")
    elif ctx.doc.kind == PROMETHEUS_RULE:
        base = ("spec", "groups")
        spec = data.get("spec")
        groups = spec.get("groups") if isinstance(spec, dict) else None
    else:
        return
    for g, group in enumerate(_list(groups)):
        if not isinstance(group, dict):
            continue
        gpath: PathKey = (*base, g)
        where = f"group {group.get('name')!s}"
        for key in group:
            _judge(ctx, target, "group", str(key), (*gpath, key), where)
        for r, rule in enumerate(_list(group.get("rules"))):
            if not isinstance(rule, dict):
                continue
            name = rule.get("alert") or rule.get("record")
            for key in rule:
                _judge(ctx, target, "rule", str(key), (*gpath, "rules", r, key), f"rule {name!s}")
                known = field_for("rule", str(key))
                recording = "record" in rule and "alert" not in rule
                if known is not None and known.alerts_only and recording and target.name in _STRICT_RECORDING:
                    ctx.report(
                        (*gpath, "rules", r, key),
                        f"recording rule {name!s} has `{key}`, which only alerting rules take: "
                        f"{target.title} refuses the whole rule file",
                        hint=f"remove `{key}` from the recording rule",
                        key=True,
                    )


def _target(ctx: Context) -> RuleTarget:
    if ctx.doc.target is not None:
        return ctx.doc.target
    if ctx.catalogue is not None and ctx.catalogue.target is not None:
        return ctx.catalogue.target
    return DEFAULT_TARGET


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _judge(
    ctx: Context, target: RuleTarget, level: Literal["group", "rule"], key: str, path: PathKey, where: str
) -> None:
    result, support = verdict(target, level, key)
    if result is Verdict.OK:
        return
    known = field_for(level, key)
    instead = known.instead if known is not None else ""
    if result is Verdict.UNKNOWN_FIELD:
        ctx.report(
            path,
            f"{where}: `{key}` is not a {level} field of any rule engine (Prometheus, vmalert, Thanos, Mimir); "
            "Prometheus and vmalert refuse the whole file",
            hint="check the spelling; see docs/checks/rules_target.md for the fields each engine reads",
            key=True,
        )
        return
    if result is Verdict.NEVER:
        ctx.report(
            path,
            f"{where}: {target.title} does not accept `{key}` (in any version) and refuses the whole rule file",
            hint=instead or f"remove `{key}`",
            key=True,
        )
        return
    assert support is not None
    ctx.report(
        path,
        f"{where}: `{key}` needs {target.title} {support.since} or later; "
        f"{target.describe()} refuses the whole rule file",
        hint=f"{instead or f'remove `{key}`'}; or upgrade and set the target to {target.name}@{support.since}",
        key=True,
    )
