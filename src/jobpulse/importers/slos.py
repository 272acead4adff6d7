"""Convert SLO definitions from other formats into the spec's ``slos`` section.

Two sources: the JSON SLO configuration of seed 004 (``{"api": {"availability": {"target": 99.9,
"window": "30d", ...}}}``) and OpenSLO v1 ``SLO`` documents with ratio or threshold metrics. Whatever
cannot be converted is reported, never guessed silently: the SLO is still written, with a ``TODO_``
placeholder that the spec loader will point at (file:line:column), and the report says what to fill in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import promql_parser
import yaml

from jobpulse.spec.promql import references

NAME = re.compile(r"[^a-z0-9-]+")


@dataclass
class Conversion:
    slos: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be converted
    notes: list[str] = field(default_factory=list)  # converted, but worth a look

    def to_yaml(self) -> str:
        header = ["# Converted by `jobpulse import`. Paste under your spec's top level and fill in every TODO_."]
        header += [f"# NOT CONVERTED: {p}" for p in self.problems]
        header += [f"# note: {n}" for n in self.notes]
        body = yaml.safe_dump({"slos": self.slos}, sort_keys=False, allow_unicode=True, width=110)
        return "\n".join(header) + "\n" + body


class SourceFormatError(ValueError):
    """The input is not a document this importer understands."""


def _name(*parts: str) -> str:
    return NAME.sub("-", "-".join(parts).lower().replace("_", "-")).strip("-")[:40]


def _percent(value: Any) -> Decimal:
    return Decimal(str(value))


# --- seed 004 JSON ----------------------------------------------------------------------------------


def apply_settings(result: Conversion, settings: list[str]) -> None:
    """``NAME.FIELD=VALUE`` fills a converted SLO's SLI (FIELD: good, bad, total, metric, selector, threshold)."""
    by_name = {slo["name"]: slo for slo in result.slos}
    for setting in settings:
        target, sep, value = setting.partition("=")
        name, dot, key = target.rpartition(".")
        if not sep or not dot or name not in by_name:
            raise SourceFormatError(
                f"--set {setting!r}: expected NAME.FIELD=VALUE with NAME one of {', '.join(by_name)}"
            )
        sli = by_name[name]["sli"]
        if key in ("good", "bad", "total"):
            events = sli.setdefault("events", {})
            sli.pop("latency", None)
            if key in ("good", "bad"):
                events.pop("bad" if key == "good" else "good", None)
            events[key] = value
        elif key in ("metric", "selector", "threshold"):
            latency = sli.setdefault("latency", {})
            sli.pop("events", None)
            latency[key] = float(value) if key == "threshold" else value
        else:
            raise SourceFormatError(f"--set {setting!r}: FIELD must be good, bad, total, metric, selector or threshold")
    filled = {slo["name"] for slo in result.slos if "TODO_" not in json.dumps(slo["sli"])}
    result.problems = [p for p in result.problems if p.split(":", 1)[0] not in filled]


def from_seed_json(text: str) -> Conversion:
    """Seed 004's JSON: groups of SLOs with target (percent), window and an optional threshold."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise SourceFormatError('expected a JSON object of SLO groups, e.g. {"api": {"availability": {...}}}')
    result = Conversion()
    for group, slos in data.items():
        if not isinstance(slos, dict):
            result.problems.append(f"{group}: expected an object of SLOs, got {type(slos).__name__}")
            continue
        for key, body in slos.items():
            name = _name(group, key)
            if not isinstance(body, dict) or "target" not in body:
                result.problems.append(f"{name}: no `target`; nothing to convert")
                continue
            slo: dict[str, Any] = {
                "name": name,
                "description": str(body.get("description", "")),
                "objective": float(body["target"]),
                "period": str(body.get("window", "30d")),
            }
            threshold = body.get("threshold")
            kind = key.lower()
            if threshold is not None and kind not in ("error_rate", "availability"):
                slo["sli"] = {
                    "latency": {
                        "metric": f"TODO_{_name(group).replace('-', '_')}_duration_histogram",
                        "threshold": float(threshold),
                    }
                }
                result.problems.append(
                    f"{name}: the JSON names no metric; set sli.latency.metric to a histogram whose buckets include "
                    f"{threshold} (the JSON gives no unit: the description says {body.get('description', '?')!r})"
                )
            else:
                if kind == "error_rate" and threshold is not None:
                    implied = Decimal(100) - _percent(threshold)
                    if implied != _percent(body["target"]):
                        result.notes.append(
                            f"{name}: threshold {threshold}% errors implies an objective of {implied}, "
                            f"but target is {body['target']}; the target was used"
                        )
                prefix = _name(group).replace("-", "_")
                slo["sli"] = {
                    "events": {"bad": f"TODO_{prefix}_failed_events_total", "total": f"TODO_{prefix}_events_total"}
                }
                result.problems.append(
                    f"{name}: the JSON names no metric; set sli.events.bad (or good) and total to counter selectors"
                )
            result.slos.append(slo)
    return result


# --- OpenSLO v1 -------------------------------------------------------------------------------------


def _query(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    metric_source = source.get("metricSource", source)
    spec = metric_source.get("spec", {}) if isinstance(metric_source, dict) else {}
    for key in ("query", "promql", "expr"):
        if isinstance(spec, dict) and isinstance(spec.get(key), str):
            return str(spec[key])
    return None


_WRAPPED = re.compile(
    r"^\s*sum\s*(?:by\s*\(([^)]*)\))?\s*\(\s*(?:rate|increase)\s*\((.*)\[[^\]]+\]\s*\)\s*\)\s*$", re.S
)


def _events(query: str) -> tuple[str, list[str], str | None]:
    """(selector or [$window] template, group labels, note) for a Prometheus counter query."""
    query = " ".join(query.split())
    try:
        ast = promql_parser.parse(query)
    except ValueError:
        return query, [], "the query does not parse as PromQL; it was copied as written"
    if isinstance(ast, promql_parser.VectorSelector):
        return query, [], None
    match = _WRAPPED.match(query)
    if match and len(references(query).selectors) == 1:
        group = [g.strip() for g in (match.group(1) or "").split(",") if g.strip()]
        return match.group(2).strip(), group, None
    ranges = re.findall(r"\[[0-9smhdwy]+\]", query)
    if len(ranges) == 1:
        return query.replace(ranges[0], "[$window]"), [], "an expression was kept, with its range replaced by $window"
    return query, [], "the query has no single range to replace with [$window]; rewrite it as a selector"


def _objective(objective: dict[str, Any]) -> Decimal | None:
    if "targetPercent" in objective:
        return _percent(objective["targetPercent"])
    if "target" in objective:
        return _percent(objective["target"]) * 100
    return None


def _window(spec: dict[str, Any]) -> tuple[str, str | None, str | None]:
    windows = spec.get("timeWindow") or [{}]
    window = windows[0] if isinstance(windows, list) and windows else {}
    duration = str(window.get("duration", "30d")) if isinstance(window, dict) else "30d"
    rolling = window.get("isRolling", True) if isinstance(window, dict) else True
    calendar = None
    note = None
    if not rolling:
        calendar = {"1M": "month", "1w": "week", "7d": "week", "1m": "month"}.get(duration)
        note = (
            f"calendar window {duration} → rolling period plus calendar reporting"
            if calendar
            else f"calendar window {duration} has no calendar equivalent here; converted to a rolling window"
        )
    period = {"1M": "30d", "1m": "30d"}.get(duration, duration)
    return period, calendar, note


def from_openslo(text: str) -> Conversion:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise SourceFormatError(f"not YAML: {exc}") from None
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise SourceFormatError("expected OpenSLO documents (mappings with apiVersion and kind)")
    if not any(str(d.get("apiVersion", "")).startswith("openslo/") for d in docs):
        raise SourceFormatError("no OpenSLO document found (apiVersion: openslo/v1)")
    indicators = {d.get("metadata", {}).get("name"): d.get("spec", {}) for d in docs if d.get("kind") == "SLI"}
    result = Conversion()
    for doc in docs:
        kind = doc.get("kind")
        name = str(doc.get("metadata", {}).get("name", "unnamed"))
        if kind in ("SLI", "Service", "DataSource"):
            continue
        if kind != "SLO":
            result.problems.append(f"{name}: kind {kind} is not converted (only SLO, with its SLI)")
            continue
        spec = doc.get("spec", {})
        indicator = spec.get("indicator", {}).get("spec") if isinstance(spec.get("indicator"), dict) else None
        if indicator is None and spec.get("indicatorRef"):
            indicator = indicators.get(spec["indicatorRef"])
        if not isinstance(indicator, dict):
            result.problems.append(f"{name}: no indicator (inline or by indicatorRef) found")
            continue
        period, calendar, window_note = _window(spec)
        if window_note:
            result.notes.append(f"{name}: {window_note}")
        if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
            result.notes.append(
                f"{name}: budgetingMethod {spec['budgetingMethod']} is converted as Occurrences (events)"
            )
        objectives = spec.get("objectives") or []
        if len(objectives) > 1:
            result.notes.append(f"{name}: {len(objectives)} objectives; each becomes its own SLO")
        for index, objective in enumerate(objectives):
            slo_name = _name(name if len(objectives) == 1 else f"{name}-{objective.get('displayName', index)}")
            target = _objective(objective)
            if target is None:
                result.problems.append(f"{slo_name}: the objective has no target or targetPercent")
                continue
            slo: dict[str, Any] = {
                "name": slo_name,
                "description": str(spec.get("description", "")),
                "objective": float(target),
                "period": period,
            }
            if calendar:
                slo["calendar"] = calendar
            sli = _indicator(slo_name, indicator, objective, result)
            if sli is None:
                continue
            sli_body, group = sli
            slo["sli"] = sli_body
            if group:
                slo["group_by"] = group
            result.slos.append(slo)
    return result


def _indicator(
    name: str, indicator: dict[str, Any], objective: dict[str, Any], result: Conversion
) -> tuple[dict[str, Any], list[str]] | None:
    ratio = indicator.get("ratioMetric")
    if isinstance(ratio, dict):
        total_q = _query(ratio.get("total"))
        kind = "good" if ratio.get("good") is not None else "bad"
        part_q = _query(ratio.get(kind))
        if total_q is None or part_q is None:
            result.problems.append(f"{name}: ratioMetric without Prometheus queries for {kind} and total")
            return None
        total, total_group, total_note = _events(total_q)
        part, part_group, part_note = _events(part_q)
        for note in {total_note, part_note} - {None}:
            result.notes.append(f"{name}: {note}")
        if total_group != part_group:
            result.notes.append(f"{name}: good/bad and total aggregate by different labels; check group_by")
        return {"events": {kind: part, "total": total}}, total_group
    threshold = indicator.get("thresholdMetric")
    if isinstance(threshold, dict):
        query = _query(threshold)
        value = objective.get("value")
        if query is None or value is None:
            result.problems.append(f"{name}: thresholdMetric needs a Prometheus query and an objective value")
            return None
        if "histogram_quantile" in query or "quantile" in query:
            result.problems.append(
                f"{name}: threshold metric {query!r} is a quantile compared per time slice; jobpulse SLIs count "
                "events, so this is not the same objective (write sli.latency with the share of fast events instead)"
            )
            return None
        buckets = [s for s in references_safe(query) if s.name.endswith("_bucket")]
        if len(buckets) != 1:
            result.problems.append(
                f"{name}: threshold metric {query!r} is not over one histogram's buckets; a latency SLI needs a "
                "histogram (write sli.latency by hand)"
            )
            return None
        selector = buckets[0]
        matchers = ", ".join(
            f'{m.label}{m.op}"{m.value}"' for m in selector.matchers if m.label not in ("le", "__name__")
        )
        op = str(objective.get("op", "lte"))
        if op not in ("lt", "lte"):
            result.problems.append(f"{name}: threshold op {op!r} is not 'lt'/'lte'; only 'faster than' converts")
            return None
        body: dict[str, Any] = {"metric": selector.name.removesuffix("_bucket"), "threshold": float(value)}
        if matchers:
            body["selector"] = "{" + matchers + "}"
        result.notes.append(f"{name}: threshold {value} must be a bucket boundary of {body['metric']}")
        return {"latency": body}, []
    result.problems.append(f"{name}: indicator is neither ratioMetric nor thresholdMetric")
    return None


def references_safe(query: str) -> list[Any]:
    try:
        return list(references(query).selectors)
    except ValueError:
        return []


def detect(text: str) -> str:
    """``seed-json`` or ``openslo`` by looking at the content."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "seed-json"
    if "openslo/" in text:
        return "openslo"
    raise SourceFormatError("cannot tell the format: expected seed 004's JSON or OpenSLO v1 YAML (use --from)")
