"""Helpers for the tests of code instrumented with jobpulse — plain functions, usable from pytest or unittest.

    from jobpulse.testing import fresh_telemetry, sample, total, assert_alert_fires

    def test_a_failed_preview_is_counted():
        telemetry = fresh_telemetry("jobpulse.yaml")           # its own registry: nothing global, nothing shared
        run_preview(telemetry, fail=True)                        # your code, given the telemetry
        assert total(telemetry, "preview_generation_jobs_completed_total", outcome="failed") == 1

    def test_the_queue_alert_fires_after_five_minutes():
        assert_alert_fires("jobpulse.yaml", "PreviewQueueStalled", at="9m",
                           series={'preview_generation_queue_depth{backend="worker"}': "2 4 8 12 15 18 20 22 25 25"})

Reading values: :func:`sample` is one sample with exactly the given labels (``None`` when absent, as
prometheus_client's ``get_sample_value``); :func:`samples` and :func:`total` match the labels you give and ignore
the others; :func:`family` is the whole metric family. A sample's name is its exposed name
(``jobs_total``, ``job_seconds_bucket``, ``job_seconds_count``); a family's name is prometheus_client's
(``jobs`` for the counter ``jobs_total``), and the exposed name of a counter is accepted too.

Alerts: :func:`assert_alert_fires` and :func:`assert_alert_silent` build the spec's rule file, feed it series in
promtool's notation and ask promtool whether the alert is firing at a given time (needs ``promtool``, from
Debian's ``prometheus`` package). See ``docs/testing.md``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from jobpulse.compile.build import compile_spec
from jobpulse.render.files import dump_yaml
from jobpulse.runtime.metrics import Telemetry
from jobpulse.spec.load import load_spec
from jobpulse.spec.model import Spec
from jobpulse.verify.promtool import run_test_file

__all__ = [
    "assert_alert_fires",
    "assert_alert_silent",
    "family",
    "fresh_telemetry",
    "sample",
    "samples",
    "total",
]

Source = Telemetry | CollectorRegistry
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def fresh_telemetry(spec: str | Path | Spec, *, strict: bool = True, track: str = "") -> Telemetry:
    """The spec's metrics on a new, empty :class:`~prometheus_client.CollectorRegistry` of their own.

    ``strict`` (the default here) makes a wrong label name or a value outside its bound raise
    :class:`~jobpulse.LabelError` instead of being counted and replaced by ``__other__``; pass
    ``strict=False`` to test that production behaviour. ``track`` is the rollout track the metrics are
    labelled with (``"canary"``); unlike ``Telemetry``, ``$JOBPULSE_TRACK`` is not read, so tests do not
    depend on the environment they run in.
    """
    model = spec if isinstance(spec, Spec) else load_spec(spec)
    return Telemetry(model, registry=CollectorRegistry(), strict=strict, track=track)


def _registry(source: Source) -> CollectorRegistry:
    if isinstance(source, Telemetry):
        if source.registry is None:
            raise ValueError("this Telemetry registers its metrics nowhere (registry=None): there is nothing to read")
        return source.registry
    return source


def family(source: Source, name: str) -> Metric | None:
    """The metric family ``name`` as collected now (its ``samples``, ``type``, ``documentation``), or ``None``."""
    for metric in _registry(source).collect():
        if metric.name == name or (metric.type == "counter" and f"{metric.name}_total" == name):
            return metric
    return None


def samples(source: Source, name: str, **labels: str) -> list[Sample]:
    """Every sample called ``name`` whose labels include ``labels`` (other labels may have any value)."""
    wanted = {key: str(value) for key, value in labels.items()}
    return [
        s
        for metric in _registry(source).collect()
        for s in metric.samples
        if s.name == name and all(s.labels.get(key) == value for key, value in wanted.items())
    ]


def sample(source: Source, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly these labels, or ``None`` when there is none."""
    wanted = {key: str(value) for key, value in labels.items()}
    return _registry(source).get_sample_value(name, wanted)


def total(source: Source, name: str, **labels: str) -> float:
    """The sum of the samples :func:`samples` finds (``0.0`` when there are none)."""
    return sum(s.value for s in samples(source, name, **labels))


def assert_alert_fires(
    spec: str | Path | Spec,
    alert: str,
    *,
    series: Mapping[str, str],
    at: str,
    labels: Mapping[str, str] | None = None,
    interval: str = "1m",
    promtool: str | None = None,
) -> None:
    """Assert that ``alert`` is firing at ``at`` (``"9m"``) when Prometheus has seen ``series``.

    ``series`` maps a series (``'queue_depth{backend="worker"}'``) to its values in promtool's notation
    (``"2 4 8 12"``, ``"0+10x30"``), one value every ``interval``. With ``labels`` at least one firing instance
    must carry them (others may carry more). The rules are the spec's, built as ``jobpulse build`` builds them,
    and evaluated every ``service.evaluation_interval``; the check runs ``promtool test rules``, whose output
    is the assertion message.
    """
    _check_alert(spec, alert, series, at, labels, interval, promtool, firing=True)


def assert_alert_silent(
    spec: str | Path | Spec,
    alert: str,
    *,
    series: Mapping[str, str],
    at: str,
    labels: Mapping[str, str] | None = None,
    interval: str = "1m",
    promtool: str | None = None,
) -> None:
    """Assert that ``alert`` (with ``labels``, if given) is not firing at ``at``; see :func:`assert_alert_fires`."""
    _check_alert(spec, alert, series, at, labels, interval, promtool, firing=False)


def _check_alert(
    spec: str | Path | Spec,
    alert: str,
    series: Mapping[str, str],
    at: str,
    labels: Mapping[str, str] | None,
    interval: str,
    promtool: str | None,
    *,
    firing: bool,
) -> None:
    model = spec if isinstance(spec, Spec) else load_spec(spec)
    result = compile_spec(model)
    known = {rule.get("alert") for group in result.get(result.rule_file).content["groups"] for rule in group["rules"]}
    if alert not in known:
        names = ", ".join(sorted(str(name) for name in known if name)) or "none"
        raise ValueError(f"the spec's rules have no alert {alert!r}; they have {names}")
    matchers = [("alertname", alert), ("alertstate", "firing"), *sorted((labels or {}).items())]
    for name, _ in matchers:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"{name!r} is not a label name")
    selector = ", ".join(f"{name}={_quoted(value)}" for name, value in matchers)
    case = {
        "expr": f"max(ALERTS{{{selector}}})",
        "eval_time": at,
        "exp_samples": [{"labels": "{}", "value": 1}] if firing else [],
    }
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": model.service.evaluation_interval,
        "tests": [
            {
                "name": f"{alert} {'fires' if firing else 'is silent'} at {at}",
                "interval": interval,
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                "promql_expr_test": [case],
            }
        ],
    }
    with tempfile.TemporaryDirectory(prefix="jobpulse-testing-") as scratch:
        (Path(scratch) / "rules.yml").write_text(dump_yaml(result.get(result.rule_file).content))
        test_path = Path(scratch) / "test.yml"
        test_path.write_text(dump_yaml(test))
        outcome = run_test_file(test_path, name=f"{alert} at {at}", promtool=promtool)
    if not outcome.passed:
        wanted = alert + ("{" + ", ".join(f"{k}={v!r}" for k, v in labels.items()) + "}" if labels else "")
        verdict = "to fire" if firing else "to stay silent"
        raise AssertionError(f"expected {wanted} {verdict} at {at}; promtool says:\n{outcome.output}")


def _quoted(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
