"""naming/units: base units (seconds, bytes) in metric names, and a unit suffix that matches the declared unit."""

from __future__ import annotations

from jobpulse.lint.helpers import parsed_queries, selector_name
from jobpulse.lint.problem import WARNING
from jobpulse.lint.registry import Context, check

#: name parts that are not base units → the base unit to use
NON_BASE = {
    "ms": "seconds",
    "msec": "seconds",
    "millis": "seconds",
    "milliseconds": "seconds",
    "us": "seconds",
    "microseconds": "seconds",
    "ns": "seconds",
    "nanoseconds": "seconds",
    "mins": "seconds",
    "minutes": "seconds",
    "hours": "seconds",
    "days": "seconds",
    "kb": "bytes",
    "kilobytes": "bytes",
    "kib": "bytes",
    "mb": "bytes",
    "megabytes": "bytes",
    "mib": "bytes",
    "gb": "bytes",
    "gigabytes": "bytes",
    "gib": "bytes",
}
BASE = {"seconds", "bytes"}
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _parts(name: str) -> list[str]:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.lower().split("_")


def non_base(name: str) -> tuple[str, str] | None:
    """(unit part, base unit) when the name carries a non-base unit."""
    for part in _parts(name):
        if part in NON_BASE:
            return part, NON_BASE[part]
    return None


@check("naming/units", severity=WARNING)
def naming_units(ctx: Context) -> None:
    """Durations in seconds and sizes in bytes, named so; a spec metric's name matches its declared unit."""
    for definition in ctx.doc.metric_defs:
        metric = definition.metric
        path = (*definition.path, "name")
        found = non_base(metric.name)
        parts = set(_parts(metric.name))
        if found is not None:
            part, base = found
            ctx.report(
                path,
                f"{metric.name} is in {part}; Prometheus metrics use {base} (a base unit)",
                hint=f"record {base} and name it with _{base} (divide by 1000 for milliseconds)",
                subjects=(metric.name,),
            )
        elif metric.unit in BASE and metric.unit not in parts:
            ctx.report(
                path,
                f"{metric.name} is declared in {metric.unit} but its name does not say so",
                hint=f"end the name with _{metric.unit}" + ("_total" if metric.type == "counter" else ""),
                subjects=(metric.name,),
            )
        elif metric.unit == "milliseconds":
            ctx.report(
                path,
                f"{metric.name} is declared in milliseconds; the base unit is seconds",
                hint="record seconds and declare unit: seconds",
                subjects=(metric.name,),
            )
        else:
            for unit in sorted(BASE & parts):
                if metric.unit not in (unit, "none"):
                    ctx.report(
                        path,
                        f"{metric.name} says {unit} but is declared in {metric.unit}",
                        hint=f"declare unit: {unit}, or rename the metric",
                        subjects=(metric.name,),
                    )
    if ctx.doc.metric_defs or ctx.doc.kind == "spec":
        return
    seen: set[str] = set()
    for query in parsed_queries(ctx):
        for selector, _ in query.parsed.selectors:
            name = selector_name(selector)
            if not name or name in seen or ":" in name:
                continue
            seen.add(name)
            found = non_base(name)
            if found is not None:
                part, base = found
                ctx.report(
                    query.path,
                    f"{name} is in {part}; Prometheus metrics use {base} (a base unit)",
                    query=query,
                    at=name,
                    hint=f"record {base} and name the metric with _{base}",
                    subjects=(name,),
                )
