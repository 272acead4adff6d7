"""One fault scenario through Prometheus and through VictoriaMetrics + vmalert, into one real Alertmanager.

A jobpulse-instrumented workload (the spec's job tracker, served on a loopback /metrics) runs healthy, then
fails a share of its jobs, then stops serving metrics. Prometheus and vmagent scrape it with the scrape
configuration ``jobpulse build`` wrote (``scrape/prometheus.yml``, ``scrape/vmagent.yml``); Prometheus and
vmalert evaluate the same built rule file and send to the same Alertmanager, told apart by an external label
``ruler``. :func:`run_comparison` records when each alert first reached Alertmanager from each ruler, and
samples chosen queries on both stores while the scenario runs, so the differences MetricsQL makes
(``increase`` without extrapolation, staleness, ``absent``) can be measured rather than guessed.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, start_http_server

from jobpulse.compile import compile_spec
from jobpulse.render.files import write_build
from jobpulse.runtime.metrics import Telemetry
from jobpulse.spec.load import load_spec
from jobpulse.verify.servers import AlertmanagerServer, PrometheusServer, free_port
from jobpulse.verify.victoriametrics import VictoriaMetricsServer, VMAgentServer, VMAlertServer

__all__ = ["Comparison", "Phase", "Workload", "run_comparison"]

RULERS = ("prometheus", "vmalert")


@dataclass(frozen=True)
class Phase:
    """``seconds`` of traffic with ``failure_ratio`` of the jobs failing; ``serving=False`` stops /metrics."""

    name: str
    seconds: float
    failure_ratio: float = 0.0
    serving: bool = True


@dataclass
class Comparison:
    """What happened: phase start times, first arrival of each alert per ruler, and sampled query values."""

    phase_started: dict[str, float] = field(default_factory=dict)
    #: ruler → alertname → wall-clock times it (re)appeared in Alertmanager, after being absent
    arrivals: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {r: {} for r in RULERS})
    #: ruler → alerts active in Alertmanager at the last poll
    active: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in RULERS})
    #: ruler → alerts that reached Alertmanager while the stacks started (before the first phase)
    startup: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in RULERS})
    #: query → (time, Prometheus' value, VictoriaMetrics' value) every second of the scenario, queried after it
    #: ended (so both stores answer from complete data; None: no result at that time)
    samples: dict[str, list[tuple[float, float | None, float | None]]] = field(default_factory=dict)

    def fired(self, ruler: str, phase: str | None = None) -> set[str]:
        """Alerts that arrived from ``ruler`` (during or after ``phase``, when given)."""
        since = self.phase_started[phase] if phase is not None else 0.0
        return {name for name, times in self.arrivals[ruler].items() if any(t >= since for t in times)}

    def detection(self, ruler: str, alert: str, phase: str) -> float | None:
        """Seconds from the start of ``phase`` to the alert's next arrival from ``ruler`` (None: none came).

        An alert still active from before the phase does not count: it has to resolve and arrive again.
        """
        start = self.phase_started[phase]
        later = [t for t in self.arrivals[ruler].get(alert, []) if t >= start]
        return later[0] - start if later else None


class Workload:
    """The spec's job lifecycle, driven in a thread and served on 127.0.0.1:<port>/metrics."""

    def __init__(self, spec_path: Path, job: str, *, port: int, rate_per_second: float = 20.0, seed: int = 7) -> None:
        self.registry = CollectorRegistry()
        self.telemetry = Telemetry.from_file(spec_path, registry=self.registry)
        self.tracker = self.telemetry.job(job)
        self.rate = rate_per_second
        self.failure_ratio = 0.0
        self.port = port
        self._random = random.Random(seed)  # noqa: S311 -- which simulated jobs fail, not a secret
        self._stop = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def stop_serving(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _loop(self) -> None:
        while not self._stop.wait(1.0 / self.rate):
            job = self.tracker.enqueue()
            job.start()
            if self._random.random() < self.failure_ratio:
                job.fail(RuntimeError("injected failure"))
            else:
                job.succeed()

    def __enter__(self) -> Workload:
        self.serve()
        self._thread = threading.Thread(target=self._loop, name="jobpulse-compare-workload", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.stop_serving()


def _value(result: list[dict[str, Any]]) -> float | None:
    if not result:
        return None
    return float(result[0]["value"][1])


@contextlib.contextmanager
def _started(*servers: Any) -> Iterator[None]:
    started = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        yield
    finally:
        for server in reversed(started):
            server.stop()


def run_comparison(
    spec_path: Path,
    workdir: Path,
    *,
    job: str,
    phases: Sequence[Phase],
    queries: Sequence[str] = (),
    latency_offset: str = "30s",
    poll_seconds: float = 0.25,
    ready_timeout: float = 120.0,
    on_tick: Callable[[Comparison], None] | None = None,
) -> Comparison:
    """Run ``phases`` of the workload through both stacks and return what each ruler told Alertmanager.

    ``spec_path`` is built into ``workdir/build``; its ``scrape`` section must have one endpoint whose
    target is the workload: ``{port}`` in the spec text is replaced by the workload's port first.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    result = Comparison()
    port = free_port()
    spec_file = workdir / "jobpulse.yaml"
    spec_file.write_text(spec_path.read_text().replace("{port}", str(port)))
    spec = load_spec(spec_file)
    with Workload(spec_file, job, port=port) as workload:
        build = workdir / "build"
        write_build(compile_spec(spec), build)
        rules = build / "prometheus" / f"{spec.service.name}.rules.yml"
        scrape = yaml.safe_load((build / "scrape" / "prometheus.yml").read_text())
        interval = spec.service.evaluation_interval
        alertmanager = AlertmanagerServer(workdir=workdir / "alertmanager")
        victoria = VictoriaMetricsServer(workdir=workdir / "victoria-metrics", latency_offset=latency_offset)
        with _started(alertmanager, victoria):
            config = {
                "global": {
                    "scrape_interval": spec.service.scrape_interval,
                    "evaluation_interval": interval,
                    "external_labels": {"ruler": "prometheus"},
                },
                "rule_files": [str(rules.resolve())],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager.url[7:]]}]}]},
                **scrape,
            }
            prometheus = PrometheusServer(config=config, workdir=workdir / "prometheus")
            vmagent = VMAgentServer(
                config=yaml.safe_load((build / "scrape" / "vmagent.yml").read_text()),
                remote_write_url=victoria.write_url,
                workdir=workdir / "vmagent",
            )
            vmalert = VMAlertServer(
                rule_files=[rules],
                datasource_url=victoria.url,
                notifier_url=alertmanager.url,
                evaluation_interval=interval,
                external_labels={"ruler": "vmalert"},
                workdir=workdir / "vmalert",
            )
            with _started(prometheus, vmagent, vmalert):
                up = f'up{{job="{spec.endpoints[0].name}"}} == 1'
                # both stores answer with data before the scenario starts
                prometheus.wait_for(lambda: prometheus.query(up), timeout=ready_timeout, interval=0.5)
                victoria.wait_for(lambda: victoria.query(up), timeout=ready_timeout, interval=0.5)
                _settle(alertmanager, result, timeout=ready_timeout, poll_seconds=poll_seconds)
                for phase in phases:
                    workload.failure_ratio = phase.failure_ratio
                    if not phase.serving:
                        workload.stop_serving()
                    result.phase_started[phase.name] = time.time()
                    end = time.monotonic() + phase.seconds
                    while time.monotonic() < end:
                        _poll(alertmanager, result)
                        if on_tick is not None:
                            on_tick(result)
                        time.sleep(poll_seconds)
                _sample(prometheus, victoria, queries, result, settle=_seconds(latency_offset) + 2)
    return result


def _poll(alertmanager: AlertmanagerServer, result: Comparison) -> None:
    now = time.time()
    with contextlib.suppress(Exception):
        active: dict[str, set[str]] = {r: set() for r in RULERS}
        for alert in alertmanager.alerts(active="true"):
            labels: Mapping[str, str] = alert.get("labels", {})
            ruler, name = labels.get("ruler"), labels.get("alertname")
            if ruler in active and name:
                active[ruler].add(name)
        for ruler, names in active.items():
            for name in names - result.active[ruler]:
                result.arrivals[ruler].setdefault(name, []).append(now)
        result.active = active


def _settle(alertmanager: AlertmanagerServer, result: Comparison, *, timeout: float, poll_seconds: float) -> None:
    """Wait until neither ruler has an alert in Alertmanager (start-up alerts resolved), noting those it had.

    vmalert may evaluate before the first samples went through vmagent, remote write and VictoriaMetrics'
    latency offset: ``absent()`` is true meanwhile.
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        _poll(alertmanager, result)
        for ruler, names in result.active.items():
            result.startup[ruler] |= names
        quiet = 0 if any(result.active.values()) else quiet + 1
        time.sleep(max(poll_seconds, 1.0))
    result.arrivals = {r: {} for r in RULERS}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    number = duration.rstrip("mshd")
    return float(number) * units[duration[len(number) :]]


def _sample(
    prometheus: PrometheusServer,
    victoria: VictoriaMetricsServer,
    queries: Sequence[str],
    result: Comparison,
    *,
    settle: float,
) -> None:
    """Each query over the whole scenario, every second, from both stores (once the newest data is visible)."""
    if not queries:
        return
    time.sleep(settle)
    start = min(result.phase_started.values())
    end = time.time() - settle
    for query in queries:
        series: list[dict[float, float]] = []
        for store in (prometheus, victoria):
            values: dict[float, float] = {}
            with contextlib.suppress(Exception):
                for item in store.query_range(query, start, end, step=1)[:1]:
                    values = {round(float(t)): float(v) for t, v in item["values"]}
            series.append(values)
        times = sorted(set(series[0]) | set(series[1]) | {float(t) for t in range(round(start), round(end))})
        result.samples[query] = [(t, series[0].get(t), series[1].get(t)) for t in times]


def staleness_without_markers(workdir: Path, *, interval: int = 15, samples: int = 20) -> dict[str, float | None]:
    """Seconds after its last sample until ``absent()`` sees a series that stopped without a staleness marker.

    A gauge sampled every ``interval`` seconds an hour ago is loaded into both stores (Prometheus through
    ``promtool tsdb create-blocks-from openmetrics``, VictoriaMetrics through its import API), then
    ``absent()`` is asked every second after the last sample. Prometheus keeps a series for its lookback
    delta (5 minutes). VictoriaMetrics looks back ``step`` or its staleness interval (derived from the
    interval between samples), whichever is longer: measured with vmalert's default step (5m) and with a
    step of one scrape interval.
    """
    import subprocess

    from jobpulse.verify.binaries import require_binary

    workdir.mkdir(parents=True, exist_ok=True)
    first = int(time.time()) - 3600
    times = [first + i * interval for i in range(samples)]
    last = times[-1]
    openmetrics = workdir / "probe.om"
    openmetrics.write_text(
        "# TYPE stale_probe gauge\n" + "".join(f"stale_probe {i} {t}\n" for i, t in enumerate(times)) + "# EOF\n"
    )
    data = workdir / "prometheus" / "data"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    found: dict[str, float | None] = {}
    prometheus = PrometheusServer(config={"scrape_configs": []}, workdir=workdir / "prometheus")
    victoria = VictoriaMetricsServer(workdir=workdir / "victoria-metrics", latency_offset="1s")
    with _started(prometheus, victoria):
        lines = "".join(f"stale_probe {i} {t * 1000}\n" for i, t in enumerate(times))
        victoria.import_prometheus(lines)
        victoria.wait_for(lambda: victoria.query("stale_probe", last), timeout=30)
        probes: dict[str, Callable[[float], list[dict[str, Any]]]] = {
            "prometheus": lambda at: prometheus.query("absent(stale_probe)", at),
            "victoria-metrics step=5m": lambda at: victoria.query("absent(stale_probe)", at, step="5m"),
            f"victoria-metrics step={interval}s": lambda at: victoria.query("absent(stale_probe)", at, f"{interval}s"),
        }
        for name, probe in probes.items():
            found[name] = next((float(after) for after in range(601) if probe(last + after)), None)
    return found


def first_increment(workdir: Path, *, interval: int = 15) -> dict[str, float | None]:
    """``increase(x[5m])`` one minute after a counter series appears already at 1 (a first failure, say).

    Prometheus only sees increases between samples it has, so a series born at 1 shows no increase
    (``BatchProcessingFailure``-style alerts on ``increase(...) > 0`` miss the first event); MetricsQL
    counts from 0 before a series' first sample.
    """
    import subprocess

    from jobpulse.verify.binaries import require_binary

    workdir.mkdir(parents=True, exist_ok=True)
    first = int(time.time()) - 3600
    times = [first + i * interval for i in range(5)]
    openmetrics = workdir / "counter.om"
    openmetrics.write_text("# TYPE born_total counter\n" + "".join(f"born_total 1 {t}\n" for t in times) + "# EOF\n")
    data = workdir / "prometheus" / "data"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    prometheus = PrometheusServer(config={"scrape_configs": []}, workdir=workdir / "prometheus")
    victoria = VictoriaMetricsServer(workdir=workdir / "victoria-metrics", latency_offset="1s")
    at = times[-1]
    with _started(prometheus, victoria):
        lines = "".join(f"born_total 1 {t * 1000}\n" for t in times)
        victoria.import_prometheus(lines)
        victoria.wait_for(lambda: victoria.query("born_total", at), timeout=30)
        return {
            "prometheus": _value(prometheus.query("increase(born_total[5m])", at)),
            "victoria-metrics": _value(victoria.query("increase(born_total[5m])", at)),
        }
