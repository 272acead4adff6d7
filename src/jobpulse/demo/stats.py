"""The demo's four numbers (jobs/min, failure %, p95, queue depth) and the alerts, from two sources.

With Prometheus running they come from the seed's panel PromQL (``[15m]`` windows for outcomes and
p95), reduced to one number each. Two departures: throughput uses ``[1m]`` rather than ``[5m]``
(``rate()`` divides by the whole window, so a fresh Prometheus under-reports a 5-minute rate for
5 minutes), and the outcomes query gets the ``ignoring(outcome) group_left`` it needs to match.
Without Prometheus — or until it has scraped twice — the numbers come from the app's own metrics (every
metrics path it serves, as Prometheus would scrape them: worker processes included) over the same windows.

Which metric gives each number is read from the spec's first job: throughput from its ``enqueued`` counter
(else ``started``, else ``completed``); outcomes from ``completed`` (else the ``duration`` histogram's count, when
it has the outcome label); p95 from ``duration`` (successful jobs only when it has the outcome label); the
queue from ``queue_depth`` (else the jobs ``in_flight``, else a gauge of the spec named ``*queue_depth``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from jobpulse.spec.model import Spec

__all__ = [
    "AlertState",
    "JobMetrics",
    "RegistryWindow",
    "Snapshot",
    "Totals",
    "histogram_quantile",
    "merge",
    "prometheus_snapshot",
    "read_totals",
    "scrape",
]

FIELDS = ("jobs_per_min", "failure_pct", "p95_ms", "queue_depth")


class Store(Protocol):
    """Where the demo reads numbers and alerts: Prometheus, or VictoriaMetrics with vmalert's alerts."""

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]: ...

    def alerts(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class JobMetrics:
    """The series the demo watches, from the spec's first job lifecycle (see the module's docstring)."""

    job: str
    #: the counter of jobs/min: the job's enqueued (else started, else completed) counter
    enqueued: str | None
    #: a counter per outcome: the completed counter, or the duration histogram's ``_count``
    completed: str | None
    outcome_label: str
    success: str
    failure: str
    duration: str | None
    queue_depth: str | None
    ms_per_unit: float = 1.0  # 1000 for a histogram in seconds, 1 for one in milliseconds
    #: what the throughput counter counts: "created", "started", "completed" or "finished" (a duration count)
    counts: str = "created"
    #: whether the duration histogram has the outcome label (p95 of successful jobs only)
    duration_by_outcome: bool = True
    #: what the queue gauge is: "queued" or "in flight"
    depth_kind: str = "queued"

    @classmethod
    def from_spec(cls, spec: Spec) -> JobMetrics | None:
        if not spec.jobs:
            return None
        job = next(iter(spec.jobs.values()))
        rate = next(
            (
                (m.exposed_name, what)
                for m, what in ((job.enqueued, "created"), (job.started, "started"), (job.completed, "completed"))
                if m
            ),
            # only a duration: each observation is a job that finished (prompt_rollout's Celery task)
            (f"{job.duration.name}_count", "finished") if job.duration is not None else (None, "created"),
        )
        by_outcome = job.duration is not None and job.outcome_label in job.duration.label_names
        completed = job.completed.exposed_name if job.completed else None
        if completed is None and job.duration is not None and by_outcome:
            completed = f"{job.duration.name}_count"
        depth, depth_kind = job.queue_depth, "queued"
        if depth is None and job.in_flight is not None:
            depth, depth_kind = job.in_flight, "in flight"
        if depth is None:
            depth = next(
                (m for m in spec.metrics.values() if m.type == "gauge" and m.name.endswith("queue_depth")), None
            )
        return cls(
            job=job.name,
            enqueued=rate[0],
            completed=completed,
            outcome_label=job.outcome_label,
            success=job.success,
            failure=job.failure,
            duration=job.duration.name if job.duration else None,
            queue_depth=depth.name if depth else None,
            ms_per_unit=1000.0 / job.duration.unit_scale if job.duration else 1.0,
            counts=rate[1],
            duration_by_outcome=by_outcome,
            depth_kind=depth_kind,
        )

    def sources(self) -> dict[str, str]:
        """The metric each number of the view comes from."""
        found = {
            "jobs_per_min": self.enqueued,
            "failure_pct": self.completed,
            "p95_ms": self.duration,
            "queue_depth": self.queue_depth + (" (in flight)" if self.depth_kind == "in flight" else "")
            if self.queue_depth
            else None,
        }
        return {name: metric for name, metric in found.items() if metric}

    def queries(self) -> dict[str, str]:
        """The seed's panel queries, aggregated to one number each."""
        queries: dict[str, str] = {}
        if self.enqueued:
            queries["jobs_per_min"] = f"60 * sum(rate({self.enqueued}[1m]))"
        if self.completed:
            # The seed's "Job outcomes (%)" query divides {outcome=...} by {} one-to-one, which matches
            # nothing in Prometheus; ``ignoring(outcome) group_left`` is the working form.
            c, o = self.completed, self.outcome_label
            queries["failure_pct"] = (
                f"100 * sum by ({o}) (rate({c}[15m])) / ignoring({o}) group_left sum (rate({c}[15m]))"
            )
        if self.duration:
            selector = f'{{{self.outcome_label}="{self.success}"}}' if self.duration_by_outcome else ""
            queries["p95_ms"] = f"histogram_quantile(0.95, sum by (le) (rate({self.duration}_bucket{selector}[15m])))"
            if self.ms_per_unit != 1.0:
                queries["p95_ms"] = f"{self.ms_per_unit:g} * {queries['p95_ms']}"
        if self.queue_depth:
            queries["queue_depth"] = f"sum({self.queue_depth})"
        return queries


@dataclass(frozen=True)
class AlertState:
    name: str
    state: str  # "pending" | "firing"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Snapshot:
    """One refresh of the view; ``None`` means "no data yet"."""

    jobs_per_min: float | None = None
    failure_pct: float | None = None
    p95_ms: float | None = None
    queue_depth: float | None = None
    alerts: list[AlertState] | None = None  # None: unknown (no Prometheus)
    sources: dict[str, str] = field(default_factory=dict)  # field -> "prometheus" | "app"
    error: str | None = None


# -- registry side ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Totals:
    """Cumulative values read from the app's registry at one moment."""

    at: float
    enqueued: float = 0.0
    outcomes: dict[str, float] = field(default_factory=dict)
    buckets: tuple[tuple[float, float], ...] = ()  # (le, cumulative count) of successful jobs
    depth: float = 0.0

    @property
    def completed(self) -> float:
        return sum(self.outcomes.values())


Families = Iterable[Any]  # prometheus_client Metric families (a registry's collect(), or parsed exposition text)


def read_totals(source: CollectorRegistry | Families, metrics: JobMetrics, at: float | None = None) -> Totals:
    """The cumulative numbers in a registry, or in metric families (:func:`scrape` of the app's paths)."""
    enqueued = depth = 0.0
    outcomes: dict[str, float] = {}
    buckets: dict[float, float] = {}
    bucket_name = f"{metrics.duration}_bucket" if metrics.duration else None
    families = source.collect() if isinstance(source, CollectorRegistry) else source
    for family in families:
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == metrics.enqueued:
                enqueued += value
            elif name == metrics.completed:
                outcome = labels.get(metrics.outcome_label, "")
                outcomes[outcome] = outcomes.get(outcome, 0.0) + value
            elif name == bucket_name and (
                not metrics.duration_by_outcome or labels.get(metrics.outcome_label) == metrics.success
            ):
                le = float(labels["le"])
                buckets[le] = buckets.get(le, 0.0) + value
            elif name == metrics.queue_depth:
                depth += value
    return Totals(
        at=time.monotonic() if at is None else at,
        enqueued=enqueued,
        outcomes=outcomes,
        buckets=tuple(sorted(buckets.items())),
        depth=depth,
    )


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """Prometheus's ``histogram_quantile`` on cumulative (le, count) pairs; None without observations."""
    if not buckets or buckets[-1][0] != math.inf:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if le == math.inf:
                return buckets[i - 1][0] if i > 0 else None
            if i == 0 and le <= 0:
                return le
            return lower + (le - lower) * (rank - below) / (count - below) if count > below else le
        lower, below = le, count
    return None


def scrape(url: str, paths: Iterable[str] = ("/metrics",), timeout: float = 5.0) -> list[Any]:
    """The app's metric families, read from each path it serves as Prometheus would (blocking: run in a thread)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    families: list[Any] = []
    with httpx.Client(base_url=url, timeout=timeout, trust_env=False) as client:
        for path in paths:
            response = client.get(path)
            response.raise_for_status()
            families.extend(text_string_to_metric_families(response.text))
    return families


class RegistryWindow:
    """Samples the app's metrics each refresh and differences over the seed's windows.

    ``registry`` is a registry or a callable returning metric families (:func:`scrape` of the app's paths).
    """

    def __init__(
        self,
        registry: CollectorRegistry | Callable[[], Families],
        metrics: JobMetrics,
        *,
        rate_window: float = 60.0,
        ratio_window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self.rate_window = rate_window
        self.ratio_window = ratio_window
        self.clock = clock
        self._samples: deque[Totals] = deque()

    @property
    def latest(self) -> Totals | None:
        """The most recent sample."""
        return self._samples[-1] if self._samples else None

    def sample(self) -> Totals:
        source = self.registry if isinstance(self.registry, CollectorRegistry) else self.registry()
        totals = read_totals(source, self.metrics, self.clock())
        self._samples.append(totals)
        horizon = totals.at - max(self.rate_window, self.ratio_window)
        while len(self._samples) > 2 and self._samples[1].at <= horizon:
            self._samples.popleft()
        return totals

    def _base(self, since: float) -> Totals:
        for totals in self._samples:
            if totals.at >= since:
                return totals
        return self._samples[-1]

    def snapshot(self) -> Snapshot:
        now = self.sample()
        snap = Snapshot(queue_depth=now.depth if self.metrics.queue_depth else None)
        base = self._base(now.at - self.rate_window)
        if self.metrics.enqueued and now.at - base.at >= 1.0:
            snap.jobs_per_min = (now.enqueued - base.enqueued) / (now.at - base.at) * 60.0
        base = self._base(now.at - self.ratio_window)
        done = now.completed - base.completed
        if self.metrics.completed and done > 0:
            failed = now.outcomes.get(self.metrics.failure, 0.0) - base.outcomes.get(self.metrics.failure, 0.0)
            snap.failure_pct = 100.0 * failed / done
        if self.metrics.duration:
            old = dict(base.buckets)
            delta = tuple((le, count - old.get(le, 0.0)) for le, count in now.buckets)
            p95 = histogram_quantile(0.95, delta)
            snap.p95_ms = None if p95 is None else p95 * self.metrics.ms_per_unit
        snap.sources = {name: "app" for name in FIELDS if getattr(snap, name) is not None}
        return snap


# -- Prometheus side ----------------------------------------------------------------------------------
def _value(series: dict[str, Any]) -> float | None:
    value = float(series["value"][1])
    return value if math.isfinite(value) else None


def prometheus_snapshot(prometheus: Store, metrics: JobMetrics) -> Snapshot:
    """Query Prometheus (blocking: run it in a thread). Errors end up in ``Snapshot.error``."""
    snap = Snapshot()
    try:
        for name, promql in metrics.queries().items():
            result = prometheus.query(promql)
            if not result:
                continue
            if name == "failure_pct":
                # one series per outcome; no failed series (yet) but some outcome means 0 %
                values = {s["metric"].get(metrics.outcome_label): _value(s) for s in result}
                value = values.get(metrics.failure, 0.0 if any(v is not None for v in values.values()) else None)
            else:
                value = _value(result[0])
            setattr(snap, name, value)
        snap.alerts = [
            AlertState(
                name=alert["labels"].get("alertname", "?"),
                state=alert.get("state", "?"),
                labels={k: v for k, v in alert["labels"].items() if k not in ("alertname", "severity")},
            )
            for alert in prometheus.alerts()
        ]
    except Exception as exc:  # a dead or slow Prometheus must not end the demo
        snap.error = f"Prometheus query failed: {type(exc).__name__}: {exc}"
    snap.sources = {name: "prometheus" for name in FIELDS if getattr(snap, name) is not None}
    return snap


def merge(preferred: Snapshot | None, fallback: Snapshot) -> Snapshot:
    """Each number from ``preferred`` when it has one, else from ``fallback``."""
    if preferred is None:
        return fallback
    out = replace(preferred, sources=dict(preferred.sources))
    for name in FIELDS:
        if getattr(out, name) is None and getattr(fallback, name) is not None:
            setattr(out, name, getattr(fallback, name))
            out.sources[name] = fallback.sources.get(name, "app")
    return out
