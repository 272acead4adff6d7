"""Datadog dashboards and monitors from a spec: the seed 003 example's output, validated strictly and against
datadog-api-client's models (which are lenient: any node they could not parse fails the test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datadog_api_client import Configuration
from datadog_api_client.model_utils import UnparsedObject, validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard as ApiDashboard
from datadog_api_client.v1.model.monitor import Monitor as ApiMonitor
from pydantic import ValidationError

from jobpulse.compile import compile_spec
from jobpulse.compile import datadog_json as dd
from jobpulse.render.files import render_all
from jobpulse.spec.datadog_query import parse_metric_query, parse_monitor_query
from jobpulse.spec.load import load_spec, load_spec_text
from tests.helpers import EXAMPLE_SPECS

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "prompt_rollout" / "jobpulse.yaml"
READ_ONLY = {"id", "author_handle", "author_name", "created_at", "modified_at", "url", "is_read_only"}


def unparsed(node: Any, path: str = "$") -> list[str]:
    """Every place where datadog-api-client gave up parsing (an UnparsedObject or an `_unparsed` model)."""
    found: list[str] = []
    if isinstance(node, UnparsedObject):
        return [path]
    if getattr(node, "_unparsed", False):
        found.append(path)
    for inner in getattr(node, "_composed_instances", None) or ():
        found += unparsed(inner, path + "<oneOf>")
    store = getattr(node, "_data_store", None)
    if isinstance(store, dict):
        for key, value in store.items():
            found += unparsed(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += unparsed(value, f"{path}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            found += unparsed(value, f"{path}.{key}")
    return found


def api_model(data: Any, cls: type) -> Any:
    return validate_and_convert_types(data, (cls,), ["received_data"], True, True, Configuration())


def datadog_files(spec_path: Path) -> dict[str, Any]:
    files = render_all(compile_spec(load_spec(spec_path)))
    return {path: json.loads(content) for path, content in files.items() if path.startswith("datadog/")}


def keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in keys(value)}
    return set()


def test_the_example_builds_one_dashboard_and_the_monitors() -> None:
    assert sorted(datadog_files(SPEC)) == ["datadog/monitors.json", "datadog/prompter-v7-rollout.json"]


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_every_datadog_file_passes_datadog_api_client_with_nothing_unparsed(spec_path: Path) -> None:
    for path, data in datadog_files(spec_path).items():
        if path.endswith("monitors.json"):
            for monitor in data:
                assert unparsed(api_model(monitor, ApiMonitor)) == [], monitor["name"]
                dd.Monitor.model_validate(monitor)
        else:
            assert unparsed(api_model(data, ApiDashboard)) == [], path
            dd.Dashboard.model_validate(data)
            assert not keys(data) & READ_ONLY
            assert "default" not in keys(data) and "q" not in keys(data), "deprecated forms"


def test_the_cross_check_fails_on_what_the_api_client_cannot_parse() -> None:
    data = datadog_files(SPEC)["datadog/prompter-v7-rollout.json"]
    widget = data["widgets"][0]["definition"]["widgets"][0]["definition"]
    widget["requests"][0]["display_type"] = "sparkles"
    assert unparsed(api_model(data, ApiDashboard)), "an unknown enum value must show up as unparsed"
    with pytest.raises(ValidationError):
        dd.Dashboard.model_validate(data)
    widget["requests"][0]["display_type"] = "line"
    widget["type"] = "no_such_widget"
    assert unparsed(api_model(data, ApiDashboard))


def test_seed_003_datadog_dashboard_has_its_five_groups_and_widgets() -> None:
    data = datadog_files(SPEC)["datadog/prompter-v7-rollout.json"]
    assert data["layout_type"] == "ordered" and data["reflow_type"] == "auto"
    assert [(v["name"], v["prefix"], v["defaults"]) for v in data["template_variables"]] == [
        ("env", "env", ["prod"]),
        ("svc", "service", ["prompter-api"]),
    ]
    groups = {
        group["definition"]["title"]: [w["definition"]["title"] for w in group["definition"]["widgets"]]
        for group in data["widgets"]
    }
    assert groups == {
        "Health Overview": ["API requests/sec", "4xx error rate %", "5xx error rate %", "p95 latency"],
        "Provider Probes": ["Probe attempts/min", "Probe failure rate %", "Provider breakdown"],
        "Version Management": ["Ensure-version calls/min", "p95 latency", "Cache hit rate"],
        "Database Performance": [
            "Unique violations/min (healthy dedup)",
            "Result insertions/min",
            "OpenAI fingerprint presence %",
        ],
        "Infrastructure": ["Redis availability", "Celery queue depth", "Task retry rate"],
    }
    for group in data["widgets"]:
        for widget in group["definition"]["widgets"]:
            for request in widget["definition"]["requests"]:
                for query in request["queries"]:
                    parse_metric_query(query["query"])  # every widget query parses
                if widget["definition"]["type"] == "query_value":
                    assert request["response_format"] == "scalar" and request["queries"][0]["aggregator"] == "last"
                else:
                    assert request["response_format"] == "timeseries"


SEED_MONITORS = [
    # (name, query, critical, notify_no_data) — the seed's six alerts, its thresholds and windows
    (
        "API 5xx Rate > 1%",
        "avg(last_5m):sum:prompter.http.status.5xx{env:prod}.as_rate() / "
        "sum:prompter.http.requests{env:prod}.as_rate() > 0.01",
        0.01,
        False,
    ),
    ("Redis Down", "avg(last_2m):avg:prompter.redis.up{env:prod} < 1", 1, True),
    (
        "Probe Failure Rate > 10%",
        "avg(last_5m):sum:prompter.probe.failures{env:prod}.as_rate() / "
        "sum:prompter.probe.attempts{env:prod}.as_rate() > 0.1",
        0.1,
        False,
    ),
    (
        "API 5xx Rate > 0.5%",
        "avg(last_5m):sum:prompter.http.status.5xx{env:prod}.as_rate() / "
        "sum:prompter.http.requests{env:prod}.as_rate() > 0.005",
        0.005,
        False,
    ),
    (
        "Ensure-version p95 > 3s",
        "percentile(last_5m):p95:prompter.ensure_version.latency{env:prod} > 3000",
        3000,
        False,
    ),
    (
        "Unique Violations Spike",
        "change(sum(last_10m),last_10m):sum:prompter.db.unique_violation{env:prod}.as_count() > 100",
        100,
        False,
    ),
]


def test_seed_003_six_monitors_exactly() -> None:
    monitors = datadog_files(SPEC)["datadog/monitors.json"]
    got = [
        (m["name"], m["query"], m["options"]["thresholds"]["critical"], m["options"]["notify_no_data"])
        for m in monitors
    ]
    assert got == SEED_MONITORS
    assert [m["priority"] for m in monitors] == [1, 1, 1, 3, 3, 3]  # three critical, three warning
    for monitor in monitors:
        parsed = parse_monitor_query(monitor["query"])
        assert parsed.threshold == monitor["options"]["thresholds"]["critical"]
        assert monitor["type"] == "metric alert"
        assert "\n\nRunbook: " in monitor["message"]
    redis = monitors[1]["options"]
    assert redis["no_data_timeframe"] == 4  # twice the 2-minute window
    assert monitors[0]["message"].startswith("Prompter API error rate critical: {{value}}%")


def test_the_build_is_deterministic() -> None:
    first = render_all(compile_spec(load_spec(SPEC)))
    second = render_all(compile_spec(load_spec(SPEC)))
    assert first == second


def test_a_spec_without_datadog_keys_writes_no_datadog_files() -> None:
    for spec_path in EXAMPLE_SPECS:
        if spec_path != SPEC:
            assert datadog_files(spec_path) == {}


def test_warning_and_recovery_thresholds_are_emitted_and_a_bad_order_is_a_spec_error() -> None:
    text = SPEC.read_text().replace(
        "      name: API 5xx Rate > 1%\n",
        "      name: API 5xx Rate > 1%\n      warning: 0.005\n      critical_recovery: 0.008\n",
    )
    spec = load_spec_text(text, "jobpulse.yaml")
    assert spec.datadog is not None
    thresholds = spec.datadog.monitors[0].thresholds
    assert (thresholds.warning, thresholds.critical_recovery) == (0.005, 0.008)
    monitors = json.loads(render_all(compile_spec(spec))["datadog/monitors.json"])
    assert monitors[0]["options"]["thresholds"] == {"critical": 0.01, "warning": 0.005, "critical_recovery": 0.008}
    assert unparsed(api_model(monitors[0], ApiMonitor)) == []
    from jobpulse.spec.errors import SpecError

    with pytest.raises(SpecError, match=r"warning \(0\.02\) must be below critical \(0\.01\)") as info:
        load_spec_text(text.replace("warning: 0.005", "warning: 0.02"), "jobpulse.yaml")
    assert "jobpulse.yaml:" in str(info.value)
