"""Queries checked against the metric catalogue: syntax, unknown metrics, labels and label values."""

from __future__ import annotations

import difflib
from typing import Any

from jobpulse.spec import model
from jobpulse.spec.promql import VARIABLE_PLACEHOLDER, references

#: Series Prometheus adds for every scraped target; queries may use them without a catalogue entry.
SCRAPE_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)


def query_problems(
    query: str,
    index: dict[str, tuple[model.Metric, tuple[str, ...]]],
    target_labels: tuple[str, ...],
) -> list[str]:
    """Problems with a query against the catalogue: syntax, unknown metrics, labels and label values."""
    try:
        refs = references(query)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        return [f"invalid PromQL: {first}"]
    problems: list[str] = []
    known_labels: set[str] = set(target_labels) | refs.created_labels
    for selector in refs.selectors:
        if not selector.name:
            continue
        entry = index.get(selector.name)
        if entry is None and selector.name in SCRAPE_SERIES:
            # written by Prometheus itself for every target (e.g. ServiceDown: up == 0); target labels only
            for matcher in selector.matchers:
                if matcher.label not in target_labels and matcher.label != "__name__":
                    problems.append(
                        f"unknown label {matcher.label!r} on {selector.name}; it only has the target labels "
                        + ", ".join(target_labels)
                    )
            continue
        if entry is None:
            problems.append(f"unknown metric {selector.name!r}; the catalogue has {closest(selector.name, index)}")
            continue
        metric, extra = entry
        valid = set(metric.label_names) | set(extra) | set(target_labels) | {"__name__"}
        known_labels |= valid
        for matcher in selector.matchers:
            if matcher.label not in valid:
                problems.append(
                    f"unknown label {matcher.label!r} on {selector.name}; its labels are "
                    + ", ".join(sorted(valid - {"__name__"}))
                )
                continue
            label = metric.label(matcher.label)
            if (
                label is not None
                and label.values is not None
                and matcher.op == "="
                and VARIABLE_PLACEHOLDER not in matcher.value
                and matcher.value not in label.values
            ):
                problems.append(
                    f"{selector.name}{{{matcher.label}={matcher.value!r}}} can never match: "
                    f"{matcher.label} takes {', '.join(sorted(label.values))}"
                )
    if any(s.name for s in refs.selectors):
        for name in sorted(refs.grouping_labels - known_labels):
            problems.append(f"unknown label {name!r} in by/on/without/ignoring: no metric in this query has it")
    return problems


def closest(name: str, choices: Any) -> str:
    names = sorted(choices)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"{len(names)} names; did you mean {close[0]!r}?"
    return ", ".join(names[:8]) + ("…" if len(names) > 8 else "") if names else "none"
