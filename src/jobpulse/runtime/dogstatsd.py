"""Every update of the spec's metrics also goes to DogStatsD, through the ``datadog`` package's client.

    from jobpulse.runtime.dogstatsd import DogStatsdSink
    sink = DogStatsdSink(spec)                           # DD_AGENT_HOST, DD_DOGSTATSD_PORT, DD_ENV ... from the env
    telemetry = Telemetry(spec, registry=registry, sinks=[sink])     # registry=None: DogStatsD only

Needs ``pip install 'jobpulse[datadog]'``. Names come from the spec's Datadog side
(:mod:`jobpulse.spec.datadog`: the ``datadog.metrics`` names and rule, ``dotted`` without one). A counter's
``inc`` becomes a count (``c``, plus every derived counter whose patterns the labels match), a gauge's
``set``/``inc``/``dec`` a gauge (``g``) with the new value, a histogram's ``observe`` a **distribution**
(``d``, converted to the declared unit) so Datadog computes global percentiles (``h`` would give per-host
ones). Tags are the metric's labels with the values *after* the spec's bounds (``__other__`` included:
tags are bounded exactly like labels), plus the constant tags: ``env``, ``service`` and ``version`` from
``DD_ENV``/``DD_SERVICE``/``DD_VERSION`` (``service`` defaults to the spec's service name), ``DD_TAGS`` /
``DATADOG_TAGS``, and ``constant_tags``; a label of the same name wins over a constant tag.

Datagrams are buffered (one UDP packet carries many lines) and flushed every ``flush_interval`` seconds, at
the end of every job (a job's last update — its duration, or its completion when it has none — flushes)
and when the process exits, so a short-lived worker loses nothing. Nothing here raises into the host
application: a failed send is logged at debug level and counted in
``jobpulse_instrumentation_errors_total{integration="dogstatsd"}``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jobpulse.extras import require
from jobpulse.runtime._client_internals import gauge_value
from jobpulse.runtime.queues import instrumentation_errors
from jobpulse.spec.datadog import DatadogCatalogue, DatadogMetric, dotted_catalogue
from jobpulse.spec.model import Metric, Spec

__all__ = ["DogStatsdSink"]

LOGGER = logging.getLogger("jobpulse.dogstatsd")
_ENV_TAGS = {"DD_ENV": "env", "DD_SERVICE": "service", "DD_VERSION": "version"}
_BAD_TAG_CHARS = re.compile(r"[|,#\s]")


def _tag(key: str, value: str) -> str:
    return f"{key}:{_BAD_TAG_CHARS.sub('_', value)}"


def _constant_tags(spec: Spec, extra: Sequence[str] = ()) -> dict[str, str]:
    """key → tag: ``service`` (the spec's name unless DD_SERVICE), ``env``/``version`` from DD_*, DD_TAGS."""
    tags: dict[str, str] = {"service": _tag("service", spec.service.name)}
    for raw in (os.environ.get("DD_TAGS", ""), os.environ.get("DATADOG_TAGS", "")):
        for tag in raw.replace(" ", ",").split(","):
            if tag:
                tags[tag.split(":", 1)[0]] = tag
    for variable, key in _ENV_TAGS.items():
        value = os.environ.get(variable, "")
        if value:
            tags[key] = _tag(key, value)
    for tag in extra:
        tags[tag.split(":", 1)[0]] = tag
    return tags


class DogStatsdSink:
    """Sends the updates of a :class:`~jobpulse.Telemetry`'s metrics to a DogStatsD server (an agent)."""

    def __init__(
        self,
        spec: Spec,
        *,
        client: Any = None,
        host: str | None = None,
        port: int | None = None,
        constant_tags: Sequence[str] = (),
        flush_interval: float = 0.3,
        telemetry: bool = True,
        origin_detection: bool = True,
    ) -> None:
        """``client`` is a configured ``datadog.DogStatsd``; without it one is made for ``host``:``port``
        (default: DD_AGENT_HOST, DD_DOGSTATSD_PORT, else localhost:8125), buffered, with the client's own
        telemetry and container origin detection as given (switch both off for deterministic datagrams)."""
        if client is None:
            dogstatsd = require("datadog.dogstatsd", extra="datadog", feature="jobpulse's DogStatsD sink")
            client = dogstatsd.DogStatsd(
                host=host,
                port=port,
                disable_buffering=False,
                flush_interval=flush_interval,
                disable_telemetry=not telemetry,
                origin_detection_enabled=origin_detection,
            )
        # the client would add DD_ENV & co. to every line; they are added per metric here instead, so that
        # a label of the same name (the seed's `env`) replaces the constant tag instead of doubling it
        client.constant_tags = []
        self.client = client
        self.spec = spec
        self.catalogue: DatadogCatalogue = spec.datadog.catalogue if spec.datadog else dotted_catalogue(spec.metrics)
        self.constant = _constant_tags(spec, constant_tags)
        # a job's last update flushes the buffer: its duration, else its completion count
        self._flush_after = {
            (job.duration or job.completed).name  # type: ignore[union-attr]
            for job in spec.jobs.values()
            if job.duration is not None or job.completed is not None
        }
        self._errors: Any = None
        self._closed = False
        _SINKS.add(self)

    # -- binding children ------------------------------------------------------------------------------------
    def wrap(self, metric: Metric, child: Any, values: tuple[str, ...], registry: Any = None) -> Any:
        """``child`` (a prometheus_client child for the bounded ``values``) with every update also sent."""
        datadog = self.catalogue.metrics.get(metric.name)
        if datadog is None:
            return child
        if self._errors is None and registry is not None:
            self._errors = instrumentation_errors(registry)
        labels = dict(zip(metric.label_names, values, strict=True))
        tags = dict(self.constant)
        tags.update((key, _tag(key, value)) for key, value in labels.items())
        tag_list = list(tags.values())
        flush = metric.name in self._flush_after
        if datadog.type == "count":
            names = [datadog.name, *(d.name for d in datadog.derived if d.matches(labels))]
            return _Counter(child, self._sender(self.client.increment, names, tag_list, flush))
        if datadog.type == "gauge":
            return _Gauge(child, self._sender(self.client.gauge, [datadog.name], tag_list, flush))
        return _Histogram(child, self._sender(self.client.distribution, [datadog.name], tag_list, flush), datadog)

    def _sender(
        self, method: Callable[..., Any], names: list[str], tags: list[str], flush: bool
    ) -> Callable[[float], None]:
        client = self.client

        def send(value: float) -> None:
            try:
                for name in names:
                    method(name, value, tags=tags)
                if flush:
                    client.flush()
            except Exception:
                LOGGER.debug("sending to DogStatsD failed", exc_info=True)
                if self._errors is not None:
                    self._errors.labels("dogstatsd").inc()

        return send

    # -- lifecycle -------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send whatever is buffered now."""
        try:
            self.client.flush()
        except Exception:
            LOGGER.debug("flushing DogStatsD failed", exc_info=True)

    def close(self) -> None:
        """Flush and close the client's socket (and stop its flush thread); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        try:
            self.client.disable_buffering = True  # stops the client's flush thread (after a last flush)
            self.client.close_socket()
        except Exception:
            LOGGER.debug("closing DogStatsD failed", exc_info=True)


class _Counter:
    __slots__ = ("_child", "_send")

    def __init__(self, child: Any, send: Callable[[float], None]) -> None:
        self._child, self._send = child, send

    def inc(self, amount: float = 1) -> None:
        self._child.inc(amount)
        self._send(amount)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # the tracker's fast path reads _value: it must take inc() instead
            raise AttributeError(name)
        return getattr(self._child, name)


class _Gauge:
    __slots__ = ("_child", "_send")

    def __init__(self, child: Any, send: Callable[[float], None]) -> None:
        self._child, self._send = child, send

    def inc(self, amount: float = 1.0) -> None:
        self._child.inc(amount)
        self._send(gauge_value(self._child))

    def dec(self, amount: float = 1.0) -> None:
        self._child.dec(amount)
        self._send(gauge_value(self._child))

    def set(self, value: float) -> None:
        self._child.set(value)
        self._send(gauge_value(self._child))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._child, name)


class _Histogram:
    __slots__ = ("_child", "_scale", "_send")

    def __init__(self, child: Any, send: Callable[[float], None], metric: DatadogMetric) -> None:
        self._child, self._send, self._scale = child, send, metric.scale

    def observe(self, amount: float) -> None:
        self._child.observe(amount)
        self._send(amount * self._scale)

    @contextlib.contextmanager
    def time(self) -> Iterator[None]:
        """Observe the seconds the ``with`` block takes (prometheus_client's ``time()``, sent too)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(max(time.perf_counter() - started, 0.0))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # the tracker's fast path reads _upper_bounds: it must take observe()
            raise AttributeError(name)
        return getattr(self._child, name)


_SINKS: weakref.WeakSet[DogStatsdSink] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """A worker that exits sends what it buffered (each sink once)."""
    for sink in list(_SINKS):
        sink.flush()
