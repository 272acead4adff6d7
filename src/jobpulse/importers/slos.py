"""Convert SLO definitions from other formats into the spec's ``slos`` section.

Two sources: the JSON SLO configuration of seed 004 (``{"api": {"availability": {"target": 99.9,
"window": "30d", ...}}}``) and OpenSLO v1 ``SLO`` documents (:mod:`jobpulse.importers.openslo`). Whatever
cannot be converted is reported, never guessed silently: a seed SLO is still written, with a ``TODO_``
placeholder that the spec loader will point at (file:line:column); an OpenSLO SLO without a faithful
conversion is left out with the reason.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from jobpulse.importers.common import Conversion, SourceFormatError, slo_name
from jobpulse.importers.openslo import convert as from_openslo


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
            name = slo_name(group, key)
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
                        "metric": f"TODO_{slo_name(group).replace('-', '_')}_duration_histogram",
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
                prefix = slo_name(group).replace("-", "_")
                slo["sli"] = {
                    "events": {"bad": f"TODO_{prefix}_failed_events_total", "total": f"TODO_{prefix}_events_total"}
                }
                result.problems.append(
                    f"{name}: the JSON names no metric; set sli.events.bad (or good) and total to counter selectors"
                )
            result.slos.append(slo)
    return result


def detect(text: str) -> str:
    """``seed-json`` or ``openslo`` by looking at the content."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "seed-json"
    if re.search(r"apiVersion:\s*['\"]?openslo(\.com)?/", text):
        return "openslo"
    raise SourceFormatError("cannot tell the format: expected seed 004's JSON or OpenSLO v1 YAML (use --from)")


__all__ = ["Conversion", "SourceFormatError", "apply_settings", "detect", "from_openslo", "from_seed_json", "slo_name"]
