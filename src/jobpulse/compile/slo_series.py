"""The input series of an SLO's generated tests: label values that satisfy the SLI's selectors.

One series counts the events that are good (or bad), one the others (or the total), each with label values
chosen so that the SLI's selectors match exactly the series they should — from a label's allowed values, the
values the selectors name, or common status-like values for regex matchers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobpulse.spec.model import Metric, Spec
from jobpulse.spec.promql import Selector
from jobpulse.spec.slo import SLO


class CannotGenerate(Exception):
    """The SLI is an expression (or its selectors cannot be satisfied): no tests can be generated."""


@dataclass(frozen=True)
class Series:
    """One input series: labels, and how much it grows per minute while healthy and while burning."""

    name: str
    labels: dict[str, str]
    role: str  # "total" | "good" | "bad"

    def text(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}" if inner else self.name


def _matches(op: str, value: str, candidate: str) -> bool:
    if op == "=":
        return candidate == value
    if op == "!=":
        return candidate != value
    if op == "=~":
        return re.fullmatch(value, candidate) is not None
    return re.fullmatch(value, candidate) is None


def _candidates(metric: Metric, label: str, selectors: list[Selector]) -> list[str]:
    spec = metric.label(label)
    found: list[str] = []
    if spec is not None and spec.values is not None:
        found = sorted(spec.values)
    else:
        for selector in selectors:
            found += [m.value for m in selector.matchers if m.label == label and m.op == "="]
        # values that satisfy the usual regex matchers on status-like labels (5.., [45].., 2..|3..)
        found += ["test", "other", "x", "200", "201", "301", "400", "404", "429", "500", "503"]
        found += ["success", "failure", "error", "ok", "true", "false"]
    return list(dict.fromkeys(found))


def _satisfies(selector: Selector, labels: dict[str, str]) -> bool:
    return all(m.label == "__name__" or _matches(m.op, m.value, labels.get(m.label, "")) for m in selector.matchers)


def _labels_for(
    metric: Metric, extra: dict[str, str], must: list[Selector], must_not: Selector | None
) -> dict[str, str]:
    """Label values for ``metric`` that satisfy every selector in ``must`` and not ``must_not``.

    Labels the selectors name besides the metric's own (target labels such as ``job``) get values too.
    """
    base: dict[str, str] = dict(extra)
    named = [m.label for s in [*must, *([must_not] if must_not else [])] for m in s.matchers]
    labels = list(dict.fromkeys([*metric.label_names, *(n for n in named if n not in ("__name__", "le"))]))
    for label in labels:
        options = [v for v in _candidates(metric, label, must) if all(_label_ok(s, label, v) for s in must)]
        if not options:
            raise CannotGenerate(f"no value of {metric.name}.{label} satisfies the SLI selectors")
        base[label] = options[0]
    if must_not is None:
        return base
    if not _satisfies(must_not, base):
        return base
    for label in labels:
        for value in _candidates(metric, label, [*must, must_not]):
            trial = {**base, label: value}
            if all(_satisfies(s, trial) for s in must) and not _satisfies(must_not, trial):
                return trial
    raise CannotGenerate(f"cannot find {metric.name} series that count as total but not as the other events")


def _label_ok(selector: Selector, label: str, value: str) -> bool:
    return all(_matches(m.op, m.value, value) for m in selector.matchers if m.label == label)


def input_series(spec: Spec, slo: SLO) -> list[Series]:
    """Series that feed the SLI: one counting events that are good, one bad (or total)."""
    sli = slo.sli
    index = spec.series_index()
    if sli.kind == "latency":
        assert sli.latency_metric is not None and sli.total_selector is not None
        metric = spec.metrics[sli.latency_metric]
        labels = _labels_for(metric, {}, [sli.total_selector], None)
        return [
            Series(f"{metric.name}_count", labels, "total"),
            Series(f"{metric.name}_bucket", {**labels, "le": sli.latency_le or ""}, "good"),
        ]
    total_sel, event_sel = sli.total_selector, sli.event_selector
    if total_sel is None or event_sel is None:
        raise CannotGenerate("the SLI is written as expressions; write tests for it in the spec's `tests` section")
    total_metric, _ = index[total_sel.name]
    event_metric, _ = index[event_sel.name]
    event_role = "bad" if sli.bad is not None else "good"
    other_role = "good" if event_role == "bad" else "bad"
    if total_sel.name == event_sel.name:
        inside = _labels_for(total_metric, {}, [total_sel, event_sel], None)
        outside = _labels_for(total_metric, {}, [total_sel], event_sel)
        for group in slo.group_by:
            outside[group] = inside[group]
        if not _satisfies(total_sel, outside) or _satisfies(event_sel, outside):
            if slo.group_by:
                raise CannotGenerate("cannot vary the series without changing a group_by label")
            raise CannotGenerate("no series counts as total without also counting as the other events")
        return [Series(total_sel.name, inside, event_role), Series(total_sel.name, outside, other_role)]
    total_labels = _labels_for(total_metric, {}, [total_sel], None)
    event_labels = _labels_for(event_metric, {}, [event_sel], None)
    for group in slo.group_by:
        event_labels[group] = total_labels[group]
    return [Series(total_sel.name, total_labels, "total"), Series(event_sel.name, event_labels, event_role)]
