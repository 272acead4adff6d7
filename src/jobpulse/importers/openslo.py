"""OpenSLO v1 ``SLO`` documents → the spec's ``slos`` section.

OpenSLO files come in every shape: one document, several (``---``), a YAML list of documents (the Go SDK's and
oslo's examples), ``kind: SLO`` with its SLI inline (``indicator``) or by reference (``indicatorRef`` to a
``kind: SLI``), objectives with their own ``indicator`` or ``timeWindow``. An SLO converts when its events are
Prometheus counters and it is budgeted by occurrences; anything else is refused with the reason — never
guessed: a query for another data source, a placeholder (``Any``), a log query, a quantile or gauge compared
with a threshold, a time-slice budget, a period too short to alert on.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import promql_parser

from jobpulse.importers.common import Conversion, slo_name
from jobpulse.importers.openslo_documents import Documents, collect, meta_name, read_documents
from jobpulse.spec.promql import references

#: data source types whose queries are PromQL
PROMETHEUS_TYPES = frozenset(
    {"prometheus", "thanos", "mimir", "cortex", "victoriametrics", "amazonprometheus", "grafanacloud", "promql"}
)
#: words the OpenSLO examples use where a real query would go
PLACEHOLDERS = frozenset({"any", "todo", "query", "<query>", "..."})
ALERT_KINDS = frozenset({"AlertPolicy", "AlertCondition", "AlertNotificationTarget"})
_LOG_QUERY = re.compile(r'\|[=~]|\|\s*(json|logfmt|pattern|regexp|line_format|label_format|unwrap)\b|\}\s*!=\s*"')
#: OpenSLO duration units (v1): m minute, h hour, d day, w week, M month, Q quarter, Y year
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdwMQY])\s*$")
_UNIT_DAYS = {"d": 1, "w": 7, "M": 30, "Q": 90, "Y": 365}
_WRAPPED = re.compile(
    r"^\s*sum\s*(?:(?:by)\s*\(([^)]*)\))?\s*\(\s*(?:(rate|increase)\s*\(\s*)?(.*?)(?:\[[^\]]+\]\s*\))?\s*\)"
    r"\s*(?:by\s*\(([^)]*)\))?\s*$",
    re.S,
)


class Refused(Exception):
    """This SLO (or objective) has no faithful conversion; the message says why."""


def convert(text: str) -> Conversion:
    """Convert every OpenSLO v1 SLO in ``text``; raises SourceFormatError when there is no OpenSLO at all."""
    docs, version_problems = read_documents(text)
    found = collect(docs)
    result = Conversion()
    result.problems += version_problems
    for _, kind, name in found.others:
        if kind in ALERT_KINDS:
            result.problems.append(
                f"{name}: {kind} is not converted: jobpulse generates the SLO's multi-window burn-rate alerts "
                "itself (docs/slo.md, alert tiers); set their severities and `for` in the SLO's alerts section"
            )
        else:
            result.problems.append(f"{name}: kind {kind} is not converted (only SLO, with its SLI)")
    for doc in found.slos:
        _convert_slo(doc, found, result)
    if not result.slos and not result.problems:
        kinds = sorted({str(d.get("kind")) for d in docs})
        result.problems.append(f"no SLO to convert: the file holds only {', '.join(kinds)} documents")
    return result


def _convert_slo(doc: dict[str, Any], found: Documents, result: Conversion) -> None:
    name = meta_name(doc)
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    for policy in spec.get("alertPolicies") or []:
        policy_name = _policy_name(policy)
        result.notes.append(
            f"{name}: alert policy {policy_name} is not carried over; jobpulse writes its own burn-rate tiers"
        )
    objectives = spec.get("objectives") or []
    if not isinstance(objectives, list) or not objectives:
        result.problems.append(f"{name}: no objectives")
        return
    for index, objective in enumerate(objectives):
        if not isinstance(objective, dict):
            result.problems.append(f"{name}: objective {index} is not a mapping")
            continue
        label = str(objective.get("displayName") or objective.get("name") or index)
        converted_name = slo_name(name if len(objectives) == 1 else f"{name}-{label}")
        try:
            result.slos.append(_objective(converted_name, spec, objective, found, result))
        except Refused as exc:
            result.problems.append(f"{converted_name}: {exc}")


def _policy_name(policy: Any) -> str:
    if isinstance(policy, dict):
        if "alertPolicyRef" in policy:
            return str(policy["alertPolicyRef"])
        meta = policy.get("metadata")
        if isinstance(meta, dict) and "name" in meta:
            return str(meta["name"])
    return "(unnamed)"


def _objective(
    name: str, spec: dict[str, Any], objective: dict[str, Any], found: Documents, result: Conversion
) -> dict[str, Any]:
    """One converted SLO; Refused lists every reason (budgeting, period, target, SLI) at once."""
    reasons: list[str] = []
    notes: list[str] = []
    method = str(spec.get("budgetingMethod", "Occurrences"))
    if method != "Occurrences":
        slice_window = objective.get("timeSliceWindow", "?")
        slice_target = objective.get("timeSliceTarget")
        judged = f" (a {slice_window} slice is good when its SLI is above {slice_target})" if slice_target else ""
        reasons.append(
            f"budgetingMethod {method} counts good time slices{judged}; jobpulse SLOs count good events "
            "(Occurrences), and converting would change what the objective means"
        )
    slo: dict[str, Any] = {"name": name}
    sli: dict[str, Any] = {}
    group_by: list[str] = []
    period, calendar, target = "30d", None, Decimal(0)
    try:
        target = _target(objective)
    except Refused as exc:
        reasons.append(str(exc))
    try:
        period, calendar, note = _period(objective.get("timeWindow") or spec.get("timeWindow"))
        notes += [note] if note else []
    except Refused as exc:
        reasons.append(str(exc))
    try:
        sli, group_by = _sli(_indicator(spec, objective, found), objective, found, notes)
    except Refused as exc:
        reasons.append(str(exc))
    if reasons:
        raise Refused("; ".join(reasons))
    result.notes += [f"{name}: {note}" for note in notes]
    indicator = _indicator(spec, objective, found)
    description = spec.get("description") or indicator.get("description")
    if description:
        slo["description"] = " ".join(str(description).split())
    slo["objective"] = float(target)
    slo["period"] = period
    if calendar:
        slo["calendar"] = calendar
    slo["sli"] = sli
    if group_by:
        slo["group_by"] = group_by
    return slo


def _indicator(spec: dict[str, Any], objective: dict[str, Any], found: Documents) -> dict[str, Any]:
    """The SLI spec: the objective's own (composite SLOs) or the SLO's, inline or referenced."""
    for holder in (objective, spec):
        inline = holder.get("indicator")
        if isinstance(inline, dict):
            body = inline.get("spec", inline)
            if isinstance(body, dict) and body:
                return body
        ref = holder.get("indicatorRef")
        if isinstance(ref, str) and ref.strip():
            if ref not in found.slis:
                raise Refused(f"indicatorRef {ref!r} names no kind: SLI document in this file")
            return found.slis[ref]
    raise Refused("no indicator (inline `indicator` or `indicatorRef` to a kind: SLI)")


def _target(objective: dict[str, Any]) -> Decimal:
    given = [k for k in ("target", "targetPercent") if objective.get(k) not in (None, "")]
    try:
        if len(given) == 2 and Decimal(str(objective["target"])) * 100 != Decimal(str(objective["targetPercent"])):
            raise Refused(
                f"target {objective['target']} and targetPercent {objective['targetPercent']} disagree "
                "(OpenSLO allows one of them)"
            )
        if objective.get("targetPercent") not in (None, ""):
            value = Decimal(str(objective["targetPercent"]))
        elif objective.get("target") not in (None, ""):
            value = Decimal(str(objective["target"])) * 100
        else:
            raise Refused("the objective has no target or targetPercent")
    except InvalidOperation:
        raise Refused(f"target {objective.get('target', objective.get('targetPercent'))!r} is not a number") from None
    if not Decimal(0) < value < Decimal(100):
        raise Refused(f"target {value}% is not between 0 and 100 (exclusive)")
    return value.normalize()


def _period(window: Any) -> tuple[str, str | None, str | None]:
    """(period, calendar, note) from an OpenSLO timeWindow list."""
    if not window:
        return "30d", None, "no timeWindow: the 30d default was used"
    windows = window if isinstance(window, list) else [window]
    first = windows[0] if isinstance(windows[0], dict) else {}
    note = f"{len(windows)} time windows; the first was used" if len(windows) > 1 else None
    text = str(first.get("duration", ""))
    match = _DURATION.match(text)
    if not match:
        raise Refused(f"timeWindow duration {text!r} is not an OpenSLO duration (a number and m, h, d, w, M, Q, Y)")
    count, unit = int(match.group(1)), match.group(2)
    if unit in ("m", "h") and count * (1 if unit == "m" else 60) < 24 * 60:
        spelled = f"{count} minute{'s' if count != 1 else ''}" if unit == "m" else f"{count} hour{'s' * (count != 1)}"
        month = " (OpenSLO writes a month as 1M)" if unit == "m" else ""
        raise Refused(
            f"timeWindow duration {text} is {spelled}{month}: an SLO period shorter than a day leaves no "
            "burn-rate window to alert on"
        )
    period = f"{count * _UNIT_DAYS[unit]}d" if unit in _UNIT_DAYS else f"{count}{unit}"
    rolling = first.get("isRolling", True)
    calendar = None
    if rolling is False:
        calendar = {"1w": "week", "1M": "month"}.get(f"{count}{unit}")
        if calendar:
            note = (
                note + "; " if note else ""
            ) + f"calendar window {text}: a rolling {period} plus reporting per {calendar}"
        else:
            note = (
                note + "; " if note else ""
            ) + f"calendar window {text} has no calendar report here; rolling {period}"
    elif unit in ("M", "Q", "Y"):
        note = (note + "; " if note else "") + f"rolling {text} became {period}"
    return period, calendar, note


# --- SLIs --------------------------------------------------------------------------------------------


def _sli(
    indicator: dict[str, Any], objective: dict[str, Any], found: Documents, notes: list[str]
) -> tuple[dict[str, Any], list[str]]:
    ratio = indicator.get("ratioMetric")
    if isinstance(ratio, dict):
        return _ratio(ratio, found, notes)
    threshold = indicator.get("thresholdMetric")
    if isinstance(threshold, dict):
        return _threshold(threshold, objective, found, notes), []
    raise Refused("the indicator is neither a ratioMetric nor a thresholdMetric")


def _source(part: Any, found: Documents, role: str) -> str:
    """The PromQL query of a metricSource, or Refused saying why there is none."""
    if not isinstance(part, dict):
        raise Refused(f"the {role} metric has no metricSource")
    source = part.get("metricSource", part)
    if not isinstance(source, dict):
        raise Refused(f"the {role} metric has no metricSource")
    kind = str(source.get("type") or found.sources.get(str(source.get("metricSourceRef", "")), ""))
    body = source.get("spec")
    query: Any = body if isinstance(body, str) else None
    if isinstance(body, dict):
        query = next((body[k] for k in ("query", "promql", "expr") if isinstance(body.get(k), str)), None)
    if kind.strip().lower() in PLACEHOLDERS:
        raise Refused(f"the {role} metric's source type is the placeholder {kind!r}: there is no query to convert")
    if kind and kind.strip().lower() not in PROMETHEUS_TYPES:
        shown = f": {query.strip()!r}" if isinstance(query, str) else ""
        raise Refused(f"the {role} metric is a {kind} query{shown}, not PromQL")
    if not isinstance(query, str) or not query.strip():
        raise Refused(f"the {role} metric has no query")
    query = " ".join(query.split())
    if query.lower() in PLACEHOLDERS:
        raise Refused(f"the {role} query {query!r} is a placeholder, not a query")
    if _LOG_QUERY.search(query):
        raise Refused(f"the {role} query {query!r} is a log query (LogQL), not a PromQL counter")
    if "{{" in query:
        raise Refused(f"the {role} query {query!r} is a template ({{{{...}}}}), not PromQL")
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise Refused(f"the {role} query {query!r} is not valid PromQL ({first})") from None
    return str(query)


def _events(query: str, role: str) -> tuple[str, list[str], str | None]:
    """(selector or [$window] template, group_by labels, note) for a query that counts events."""
    query = re.sub(r"\{\s*\}", "", query)
    ast = promql_parser.parse(query)
    if isinstance(ast, promql_parser.VectorSelector):
        return query, [], None
    match = _WRAPPED.match(query)
    selectors = references(query).selectors
    if match and len(selectors) == 1:
        inner = match.group(3).strip()
        if isinstance(promql_parser.parse(inner), promql_parser.VectorSelector):
            group = [g.strip() for g in (match.group(1) or match.group(4) or "").split(",") if g.strip()]
            return inner, group, None
    ranges = re.findall(r"\[[0-9smhdwy]+\]", query)
    functions = set(re.findall(r"\b([a-z_]+)\s*\(", query))
    if len(ranges) == 1 and functions <= {"sum", "rate", "increase", "by", "without"}:
        template = query.replace(ranges[0], "[$window]")
        template = re.sub(r"\brate\s*\(", "increase(", template)
        return template, [], f"the {role} query was kept as an expression over [$window] (rate → increase)"
    raise Refused(
        f"the {role} query {query!r} is not a count of events (a counter selector, sum(...) of one, or "
        "sum(rate(counter[w]))); rewrite it as a selector"
    )


def _ratio(ratio: dict[str, Any], found: Documents, notes: list[str]) -> tuple[dict[str, Any], list[str]]:
    if "raw" in ratio or "rawType" in ratio:
        raise Refused("a raw ratioMetric is a ratio computed by the source, not good and total events")
    if ratio.get("counter") is False:
        raise Refused(
            "counter: false: the good and total series are gauges (a count per sample), not counters; jobpulse "
            "SLIs take the increase of counters"
        )
    kind = "good" if ratio.get("good") is not None else "bad"
    if ratio.get("good") is not None and ratio.get("bad") is not None:
        notes.append("both good and bad are given; good was used")
    if ratio.get(kind) is None or ratio.get("total") is None:
        raise Refused("a ratioMetric needs total and one of good or bad")
    part_query = _source(ratio[kind], found, kind)
    total_query = _source(ratio["total"], found, "total")
    part, part_group, part_note = _events(part_query, kind)
    total, total_group, total_note = _events(total_query, "total")
    notes += [note for note in (part_note, total_note) if note]
    if part_group != total_group:
        raise Refused(f"{kind} aggregates by ({', '.join(part_group)}) and total by ({', '.join(total_group)})")
    latency = _as_latency(part, total) if kind == "good" else None
    if latency is not None:
        notes.append(
            "good is a bucket of the histogram that total counts: converted as a latency SLI "
            f"(threshold {latency['threshold']:g} must be one of {latency['metric']}'s buckets)"
        )
        return {"latency": latency}, total_group
    return {"events": {kind: part, "total": total}}, total_group


def _as_latency(good: str, total: str) -> dict[str, Any] | None:
    """``x_bucket{le="0.5", a="b"}`` over ``x_count{a="b"}`` is a latency SLI on histogram x."""
    try:
        good_ref, total_ref = references(good).selectors, references(total).selectors
    except ValueError:
        return None
    if len(good_ref) != 1 or len(total_ref) != 1 or good != good.strip() or "$window" in good + total:
        return None
    bucket, count = good_ref[0], total_ref[0]
    if not (bucket.name.endswith("_bucket") and count.name == bucket.name.removesuffix("_bucket") + "_count"):
        return None
    le = [m for m in bucket.matchers if m.label == "le"]
    rest = sorted((m.label, m.op, m.value) for m in bucket.matchers if m.label not in ("le", "__name__"))
    if (
        len(le) != 1
        or le[0].op != "="
        or rest != sorted((m.label, m.op, m.value) for m in count.matchers if m.label != "__name__")
    ):
        return None
    try:
        threshold = float(le[0].value)
    except ValueError:
        return None
    body: dict[str, Any] = {"metric": count.name.removesuffix("_count"), "threshold": threshold}
    if rest:
        body["selector"] = "{" + ", ".join(f'{label}{op}"{value}"' for label, op, value in rest) + "}"
    return body


def _threshold(
    threshold: dict[str, Any], objective: dict[str, Any], found: Documents, notes: list[str]
) -> dict[str, Any]:
    query = _source(threshold, found, "threshold")
    if "quantile" in query:
        raise Refused(
            f"threshold metric {query!r} is a quantile compared with a threshold; jobpulse SLIs count events "
            "(write sli.latency with the share of fast events instead)"
        )
    buckets = [s for s in references(query).selectors if s.name.endswith("_bucket")]
    if len(buckets) != 1:
        raise Refused(
            f"threshold metric {query!r} is a value compared with {objective.get('value', '?')}, not a histogram's "
            "buckets; jobpulse SLIs count good events (a latency SLI needs a histogram)"
        )
    op = str(objective.get("op", "lte"))
    if op not in ("lt", "lte"):
        raise Refused(f"threshold op {op!r} is not lt/lte; only 'at most the threshold is good' converts")
    value = objective.get("value")
    try:
        limit = float(str(value))
    except ValueError:
        raise Refused(f"threshold value {value!r} is not a number") from None
    selector = buckets[0]
    matchers = ", ".join(f'{m.label}{m.op}"{m.value}"' for m in selector.matchers if m.label not in ("le", "__name__"))
    body: dict[str, Any] = {"metric": selector.name.removesuffix("_bucket"), "threshold": limit}
    if matchers:
        body["selector"] = "{" + matchers + "}"
    notes.append(f"threshold {limit:g} must be a bucket boundary of {body['metric']}")
    return {"latency": body}
