"""Short-lived batch jobs push their metrics to a Prometheus Pushgateway when they finish.

A batch job lives shorter than a scrape interval, so Prometheus cannot scrape it; it pushes instead. Each
push goes to one *group* of the Pushgateway, named by its grouping key (``job`` plus labels). Two rules keep
pushes from clobbering each other:

* the grouping key includes an id of the run (``instance=<batch id>`` by default), so two batch jobs — even
  running at the same time — write two groups;
* ``push`` (HTTP PUT) replaces exactly one group, the run's own: a re-push of the same batch replaces its
  earlier metrics and nothing else; ``pushadd`` (POST) replaces only the metric names it sends in that group.

Pushing never raises into the job: failures (unreachable gateway, timeout, HTTP error) are logged, counted in
``jobpulse_push_errors_total{reason}`` (sent along with the next successful push) and returned as ``False``.
See ``docs/multiprocess.md``.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import delete_from_gateway, push_to_gateway, pushadd_to_gateway
from prometheus_client.metrics_core import Metric

from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Spec

__all__ = ["BatchRun", "Pusher", "prune_groups"]

log = logging.getLogger("jobpulse.push")

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
REASONS = ("timeout", "connection", "http", "other")
Method = Literal["push", "pushadd"]


def _handler(use_env_proxy: bool) -> Any:
    """A prometheus_client push handler over urllib; environment proxies only when asked for."""

    def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes) -> Any:
        def send() -> None:
            request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s) URL built by us)
            for key, value in headers:
                request.add_header(key, value)
            proxies = urllib.request.ProxyHandler() if use_env_proxy else urllib.request.ProxyHandler({})
            with urllib.request.build_opener(proxies).open(request, timeout=timeout) as response:
                response.read()

        return send

    return handler


def classify(exc: BaseException) -> str:
    """The bounded ``reason`` label of a push failure."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, urllib.error.HTTPError):
        return "http"
    if isinstance(exc, urllib.error.URLError):
        return "timeout" if isinstance(exc.reason, TimeoutError | socket.timeout) else "connection"
    if isinstance(exc, ConnectionError | OSError):
        return "connection"
    return "other"


class _Only:
    """A collector exposing only some metric families of a registry (what a batch job pushes)."""

    def __init__(self, registry: CollectorRegistry, names: set[str]) -> None:
        self.registry = registry
        self.names = names

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.name in self.names:
                yield family


def _family_names(name: str) -> set[str]:
    # prometheus_client names a counter's family without its _total suffix
    return {name, name.removesuffix("_total")}


_ERROR_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_ERROR_COUNTERS_LOCK = threading.Lock()


def _errors_counter(registry: CollectorRegistry) -> Counter:
    """``jobpulse_push_errors_total{reason}`` in ``registry``, created once however many pushers share it."""
    with _ERROR_COUNTERS_LOCK:
        counter = _ERROR_COUNTERS.get(registry)
        if counter is None:
            counter = _ERROR_COUNTERS[registry] = Counter(
                "jobpulse_push_errors",
                "Pushes to the Pushgateway that failed, by reason (timeout, connection, http, other).",
                ["reason"],
                registry=registry,
            )
        return counter


class Pusher:
    """Push one registry's metrics to one group of a Pushgateway, never raising.

    ``gateway`` is ``host:port`` or a URL; ``job`` and ``grouping_key`` name the group (give every run its
    own ``grouping_key``, e.g. ``{"instance": batch_id}``); ``timeout`` bounds each HTTP request in seconds;
    ``attempts`` tries that many times (a short pause between).
    """

    def __init__(
        self,
        gateway: str,
        job: str,
        *,
        grouping_key: Mapping[str, str],
        registry: CollectorRegistry,
        only: set[str] | None = None,
        timeout: float = 5.0,
        attempts: int = 2,
        use_env_proxy: bool = False,
    ) -> None:
        if not grouping_key:
            raise ValueError("a grouping key is required: without a per-run label two jobs overwrite one group")
        for name, value in grouping_key.items():
            if not LABEL_NAME.match(name) or name.startswith("__") or name == "job":
                raise ValueError(f"grouping key label {name!r} is not a valid label name (and `job` is implied)")
            if not str(value):
                raise ValueError(f"grouping key label {name!r} has an empty value")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.gateway = gateway
        self.job = job
        self.grouping_key = {k: str(v) for k, v in grouping_key.items()}
        self.registry = registry
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self._handler = _handler(use_env_proxy)
        self.errors = _errors_counter(registry)
        self._only = None if only is None else _Only(registry, {*only, "jobpulse_push_errors"})
        self.last_error: BaseException | None = None

    def push(self, method: Method = "push") -> bool:
        """Send the registry: ``push`` replaces this group, ``pushadd`` replaces the sent metric names in it."""
        send = push_to_gateway if method == "push" else pushadd_to_gateway
        collector: Any = self._only if self._only is not None else self.registry
        return self._attempt(
            method,
            lambda: send(
                self.gateway,
                job=self.job,
                registry=collector,
                grouping_key=self.grouping_key,
                timeout=self.timeout,
                handler=self._handler,
            ),
        )

    def delete(self) -> bool:
        """Delete this group from the Pushgateway."""
        return self._attempt(
            "delete",
            lambda: delete_from_gateway(
                self.gateway,
                job=self.job,
                grouping_key=self.grouping_key,
                timeout=self.timeout,
                handler=self._handler,
            ),
        )

    def _attempt(self, what: str, call: Any) -> bool:
        for attempt in range(self.attempts):
            try:
                call()
            except Exception as exc:
                self.last_error = exc
                reason = classify(exc)
                self.errors.labels(reason).inc()
                log.warning(
                    "jobpulse: %s to Pushgateway %s (job=%s %s) failed (%s, attempt %d/%d): %s",
                    what,
                    self.gateway,
                    self.job,
                    self.grouping_key,
                    reason,
                    attempt + 1,
                    self.attempts,
                    exc,
                )
                if attempt + 1 < self.attempts:
                    time.sleep(min(0.2, self.timeout / 10))
                continue
            return True
        return False


class BatchRun:
    """One run of a batch job, recorded through a job lifecycle of the spec and pushed when it ends.

    ::

        with BatchRun.from_file("jobpulse.yaml", "batch", gateway="pushgateway:9091", batch_id=batch.id):
            process(batch)

    On entry the run is enqueued and started in a fresh registry (only this run's samples); on exit it
    succeeds, or fails if the block raised (the job's exception propagates unchanged), and the lifecycle's
    metrics — seed 001's ``batches_completed_total{status}`` and ``batch_processing_seconds`` — are pushed
    to the group ``{job=<push_job>, <id_label>=<batch_id>}``. ``delete_on_success=True`` deletes the group
    instead of pushing when the run succeeds (for runs whose success needs no series: a failed run's group
    stays for alerting until deleted). The push result is in :attr:`pushed`.
    """

    def __init__(
        self,
        spec: Spec,
        job: str,
        *,
        gateway: str,
        batch_id: str,
        push_job: str | None = None,
        id_label: str = "instance",
        extra_grouping: Mapping[str, str] | None = None,
        attributes: Mapping[str, object] | None = None,
        method: Method = "push",
        delete_on_success: bool = False,
        timeout: float = 5.0,
        attempts: int = 2,
    ) -> None:
        from jobpulse.runtime.metrics import Telemetry

        if job not in spec.jobs:
            raise KeyError(f"job {job!r} is not in the spec; it has {', '.join(spec.jobs) or 'no jobs'}")
        self.registry = CollectorRegistry()
        self.telemetry = Telemetry(spec, registry=self.registry)
        self.tracker = self.telemetry.job(job)
        names: set[str] = set()
        for metric in spec.jobs[job].roles().values():
            names |= _family_names(metric.name)
        self.pusher = Pusher(
            gateway,
            push_job or job,
            grouping_key={**(extra_grouping or {}), id_label: batch_id},
            registry=self.registry,
            only=names,
            timeout=timeout,
            attempts=attempts,
        )
        self.batch_id = batch_id
        self.attributes = dict(attributes or {})
        self.method: Method = method
        self.delete_on_success = delete_on_success
        self.pushed: bool | None = None
        self.succeeded: bool | None = None

    @classmethod
    def from_file(cls, path: str | Path, job: str, **options: Any) -> BatchRun:
        return cls(load_spec(path), job, **options)

    def __enter__(self) -> BatchRun:
        self._job = self.tracker.enqueue(self.batch_id, **self.attributes)
        self._job.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.succeeded = exc is None
        try:
            if exc is None:
                self._job.succeed()
            else:
                self._job.fail(exc)
        except Exception:  # never mask the job's own outcome
            log.exception("jobpulse: recording batch %s failed", self.batch_id)
        if self.succeeded and self.delete_on_success:
            self.pushed = self.pusher.delete()
        else:
            self.pushed = self.pusher.push(self.method)


def prune_groups(gateway: str, job: str, *, older_than: float, timeout: float = 5.0, now: float | None = None) -> int:
    """Delete ``job``'s groups last pushed more than ``older_than`` seconds ago; returns how many.

    Per-run grouping keys make one group per run, and the Pushgateway never forgets a group: prune on a
    schedule (after Prometheus has scraped them) to keep the series count bounded. Never raises.
    """
    import json

    base = gateway if "://" in gateway else f"http://{gateway}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base.rstrip('/')}/api/v1/metrics", timeout=timeout) as response:
            groups = json.loads(response.read())["data"]
    except Exception as exc:
        log.warning("jobpulse: listing Pushgateway groups at %s failed: %s", gateway, exc)
        return 0
    current = time.time() if now is None else now
    pruned = 0
    handler = _handler(False)
    for group in groups:
        labels = dict(group.get("labels", {}))
        if labels.pop("job", None) != job:
            continue
        pushed = group.get("push_time_seconds", {}).get("metrics", [{}])[0].get("value")
        try:
            age = current - float(pushed)
        except (TypeError, ValueError):
            continue
        if age <= older_than:
            continue
        try:
            delete_from_gateway(gateway, job=job, grouping_key=labels, timeout=timeout, handler=handler)
        except Exception as exc:
            log.warning("jobpulse: pruning Pushgateway group %s failed: %s", labels, exc)
            continue
        pruned += 1
    return pruned
