"""Drive the real runtime instrumentation with a simulated clock and record it at each scrape.

The spec's :class:`~jobpulse.runtime.metrics.Telemetry` and :class:`~jobpulse.runtime.tracker.JobTracker`
— the same code a service runs — get a fresh registry and a clock that the simulation moves. Jobs arrive
evenly spaced at the scenario's rate; each is enqueued, started (at once, or when a stall ends) and
finished after a latency drawn from the scenario's distribution; failures are spread evenly (error
diffusion), so a failure ratio is exact over any window. At every scrape time the registry is collected
and its samples recorded with their timestamps; chunks of them are written as OpenMetrics text for
``promtool tsdb create-blocks-from openmetrics``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from jobpulse.runtime.metrics import Telemetry
from jobpulse.runtime.tracker import Job
from jobpulse.spec.model import Spec
from jobpulse.verify.backtest.scenarios import Latency, Scenario

_START, _FINISH_OK, _FINISH_FAIL, _UNSTALL = 0, 1, 2, 3


class SimClock:
    """The clock handed to the tracker: ``clock()`` is whatever time the simulation says it is."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class _Series:
    text: str  # 'name{labels} ' ready to be followed by value and timestamp
    times: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))


@dataclass
class Recording:
    """Samples recorded so far (flushed chunk by chunk) and the counts for the report."""

    series: dict[tuple[Any, ...], _Series] = field(default_factory=dict)
    scrapes: int = 0
    samples: int = 0
    jobs: int = 0
    failed: int = 0


def target_labels(spec: Spec) -> dict[str, str]:
    """The labels Prometheus would attach to every scraped series of this service."""
    out = {}
    for name in spec.service.target_labels:
        out[name] = {"job": spec.service.name, "instance": "127.0.0.1:8000"}.get(name, "backtest")
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Simulation:
    """One scenario run: ``run(on_chunk)`` calls ``on_chunk(path)`` for each OpenMetrics chunk it writes."""

    def __init__(
        self,
        spec: Spec,
        scenario: Scenario,
        *,
        start: int,
        resolution: int,
        seed: int,
        workdir: Path,
        chunk_seconds: int = 3 * 86400,
    ) -> None:
        self.spec = spec
        self.scenario = scenario
        self.start = start
        self.resolution = resolution
        self.workdir = workdir
        self.chunk_seconds = chunk_seconds
        self.rng = random.Random(f"{seed}:{scenario.name}")  # noqa: S311 - reproducible latencies, not secrets
        self.registry = CollectorRegistry()
        self.telemetry = Telemetry(spec, registry=self.registry)
        self.clock = SimClock(float(start))
        self.tracker = self.telemetry.job(scenario.job, clock=self.clock)
        self.values = tuple(scenario.attributes[a] for a in spec.jobs[scenario.job].attributes)
        self.recording = Recording()
        self.target = target_labels(spec)
        self._target_text = ",".join(f'{k}="{_escape(v)}"' for k, v in self.target.items())
        self._events: list[tuple[float, int, int, Job | None, float]] = []
        self._seq = 0
        self._credit = 0.0  # fractional jobs carried between segments
        self._fail_acc = 0.0  # error diffusion: a failure whenever this reaches 1
        self._backlog: list[tuple[Job, bool, float]] = []
        for fault in scenario.faults:
            if fault.stall:
                self._push(start + fault.end, _UNSTALL, None, 0.0)

    # -- events -----------------------------------------------------------------------------------
    def _push(self, when: float, kind: int, job: Job | None, latency: float) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, job, latency))

    def _sampler(self, latency: Latency) -> Callable[[], float]:
        if latency.sigma == 0.0:
            median = latency.median
            return lambda: median
        mu, sigma, draw = math.log(latency.median), latency.sigma, self.rng.lognormvariate
        return lambda: draw(mu, sigma)

    def _arrive(self, when: float, failure: float, sample: Callable[[], float], stalled: bool) -> None:
        self.clock.now = when
        job = self.tracker.enqueue(None, *self.values)
        self._fail_acc += failure
        ok = True
        if self._fail_acc >= 1.0 - 1e-9:
            self._fail_acc -= 1.0
            ok = False
        latency = sample()
        if stalled:
            self._backlog.append((job, ok, latency))
            return
        job.start()
        self._push(when + latency, _FINISH_OK if ok else _FINISH_FAIL, job, 0.0)

    def _drain_events(self, until: float) -> None:
        """Process every finish/unstall event at or before ``until``."""
        events = self._events
        clock = self.clock
        while events and events[0][0] <= until:
            when, _, kind, job, _ = heapq.heappop(events)
            clock.now = when
            if kind == _FINISH_OK:
                assert job is not None
                job.succeed()
            elif kind == _FINISH_FAIL:
                assert job is not None
                job.fail()
                self.recording.failed += 1
            elif kind == _UNSTALL:
                backlog, self._backlog = self._backlog, []
                for waiting, ok, latency in backlog:
                    waiting.start()
                    self._push(when + latency, _FINISH_OK if ok else _FINISH_FAIL, waiting, 0.0)

    def _advance(self, t0: float, t1: float) -> None:
        """Simulate (t0, t1]: arrivals in regime segments, interleaved with finishes in time order."""
        scenario = self.scenario
        cuts = [t0] + [self.start + b for b in scenario.boundaries() if t0 < self.start + b < t1] + [t1]
        for a, b in itertools.pairwise(cuts):
            rate, failure, latency, stalled, _ = scenario.regime(a - self.start)
            if rate <= 0:
                self._drain_events(b)
                continue
            gap = 60.0 / rate
            expected = self._credit + (b - a) / gap
            count = int(expected)
            sample = self._sampler(latency)
            first = a + (1.0 - self._credit) * gap
            for i in range(count):
                when = first + i * gap
                self._drain_events(when)
                self._arrive(when, failure, sample, stalled)
            self.recording.jobs += count
            self._credit = expected - count
            self._drain_events(b)

    # -- scrapes ----------------------------------------------------------------------------------
    def _scrape(self, ts: int) -> None:
        series = self.recording.series
        target = self._target_text
        n = 0
        for family in self.registry.collect():
            for sample in family.samples:
                name = sample.name
                if name.endswith("_created"):
                    continue  # a text-format scrape has no _created series
                key = (name, *sample.labels.items())
                entry = series.get(key)
                if entry is None:
                    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
                    inner = f"{labels},{target}" if labels and target else labels or target
                    entry = series[key] = _Series(f"{name}{{{inner}}} ")
                entry.times.append(ts)
                entry.values.append(sample.value)
                n += 1
        self.recording.samples += n

    def _scrape_up(self, ts: int, up: bool) -> None:
        key = ("up",)
        entry = self.recording.series.get(key)
        if entry is None:
            entry = self.recording.series[key] = _Series(f"up{{{self._target_text}}} ")
        entry.times.append(ts)
        entry.values.append(1.0 if up else 0.0)

    def _flush(self, index: int) -> Path | None:
        path = self.workdir / f"chunk-{index:03d}.om"
        written = 0
        with path.open("w", encoding="utf-8") as out:
            for entry in self.recording.series.values():
                if not entry.times:
                    continue
                prefix = entry.text
                out.write("".join([f"{prefix}{v!r} {t}\n" for t, v in zip(entry.times, entry.values, strict=True)]))
                written += len(entry.times)
                entry.times = array("q")
                entry.values = array("d")
            out.write("# EOF\n")
        if not written:
            path.unlink()
            return None
        return path

    def run(self, on_chunk: Callable[[Path], None], on_progress: Callable[[float], None] | None = None) -> Recording:
        """Simulate the whole scenario; returns the counts (samples are handed over chunk by chunk)."""
        scenario = self.scenario
        step = self.resolution
        end = self.start + int(scenario.duration)
        t = self.start
        chunk_end = self.start + self.chunk_seconds
        chunk_index = 0
        report_every = max(1, 3600 // step)
        scrapes = 0
        self._scrape_at(t)
        while t < end:
            nxt = min(t + step, end)
            self._advance(float(t), float(nxt))
            t = nxt
            self._scrape_at(t)
            scrapes += 1
            if on_progress is not None and scrapes % report_every == 0:
                on_progress((t - self.start) / max(1, end - self.start))
            if t >= chunk_end or t >= end:
                path = self._flush(chunk_index)
                if path is not None:
                    on_chunk(path)
                chunk_index += 1
                chunk_end += self.chunk_seconds
        return self.recording

    def _scrape_at(self, ts: int) -> None:
        down = self.scenario.regime(ts - self.start)[4]
        self.recording.scrapes += 1
        self._scrape_up(ts, not down)
        if not down:
            self.clock.now = float(ts)
            self._scrape(ts)
