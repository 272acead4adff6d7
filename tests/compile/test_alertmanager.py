"""The generated Alertmanager config: valid for amtool, routes each alert to the spec's receiver, and
inhibits an SLO's ticket alerts while a page alert of the same SLO fires (real Alertmanager)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from jobpulse.compile import compile_spec
from jobpulse.compile.alertmanager import receiver_for
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec, load_spec_text
from jobpulse.spec.model import Spec
from jobpulse.verify.servers import AlertmanagerServer
from tests.helpers import EXAMPLE_SPECS, MINIMAL_SPEC, PREVIEW_SPEC


def _config(tmp_path: Path, spec_path: Path) -> Path:
    write_build(compile_spec(load_spec(spec_path)), tmp_path / "out")
    return tmp_path / "out" / "alertmanager" / "alertmanager.yml"


def _alert_label_sets(spec: Spec, rules_file: Path) -> list[dict[str, str]]:
    rules = yaml.safe_load(rules_file.read_text())
    return [
        {"alertname": rule["alert"], **rule.get("labels", {})}
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_config_passes_amtool(tmp_path: Path, spec_path: Path, amtool: str) -> None:
    config = _config(tmp_path, spec_path)
    proc = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_preview_alert_reaches_the_receiver_the_spec_says(tmp_path: Path, amtool: str) -> None:
    spec = load_spec(PREVIEW_SPEC)
    config = _config(tmp_path, PREVIEW_SPEC)
    expected = receiver_for(spec)
    assert expected == {"page": "preview-oncall", "warn": "platform-sre"}
    label_sets = _alert_label_sets(spec, tmp_path / "out/prometheus/preview-jobs.rules.yml")
    assert {labels["alertname"] for labels in label_sets} >= {
        "PreviewGenerationHighFailureRate",
        "PreviewGenerationSlow",
        "PreviewQueueStalled",
        "PreviewSuccessErrorBudgetBurn",
        "PreviewLatencyErrorBudgetBurn",
        "PreviewSuccessSLIAbsent",
    }
    for labels in label_sets:
        args = [f"{k}={v}" for k, v in labels.items()]
        proc = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == expected[labels["severity"]], (labels, proc.stdout)


def test_verify_receivers_flag_catches_a_wrong_route(tmp_path: Path, amtool: str) -> None:
    config = _config(tmp_path, PREVIEW_SPEC)
    proc = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "--verify.receivers=platform-sre",
            "severity=page",
            "alertname=PreviewGenerationHighFailureRate",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


def test_default_receivers_per_severity() -> None:
    spec = load_spec_text(
        MINIMAL_SPEC
        + "slos:\n  - name: s\n    objective: 99.9\n    sli:\n      events: {bad: 'jobs_done_total{outcome=\"error\"}',"
        " total: jobs_done_total}\n",
        "s.yaml",
    )
    from jobpulse.compile.alertmanager import alertmanager_config

    config = alertmanager_config(spec)
    assert [r["receiver"] for r in config["route"]["routes"]] == ["page", "ticket"]
    assert config["route"]["group_by"] == ["alertname", "service"]
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="page"', 'slo="s"'],
            "target_matchers": ['severity="ticket"', 'slo="s"'],
            "equal": ["slo"],
        }
    ]


def test_duplicate_severity_routes_are_a_spec_error() -> None:
    from jobpulse.spec.errors import SpecError

    text = MINIMAL_SPEC + (
        "alertmanager:\n  receivers:\n    - {name: a, severities: [page]}\n    - {name: b, severities: [page]}\n"
    )
    with pytest.raises(SpecError, match="already goes to 'a'"):
        load_spec_text(text, "s.yaml")


@pytest.mark.integration
def test_page_inhibits_ticket_of_the_same_slo_in_a_real_alertmanager(tmp_path: Path, alertmanager_bin: str) -> None:
    config = yaml.safe_load(_config(tmp_path, PREVIEW_SPEC).read_text())
    for receiver in config["receivers"]:
        receiver.pop("webhook_configs", None)  # no webhook listener in this test
    now = datetime.now(UTC)
    window = {"startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}

    def alert(name: str, **labels: str) -> dict[str, object]:
        return {"labels": {"alertname": name, "service": "preview-jobs", **labels}, **window}

    with AlertmanagerServer(config=config, workdir=tmp_path / "am", binary=alertmanager_bin) as am:
        alerts = [
            alert("PreviewSuccessErrorBudgetBurn", severity="page", slo="preview-success", tier="page_1h"),
            alert("PreviewSuccessErrorBudgetBurn", severity="warn", slo="preview-success", tier="ticket_1d"),
            alert("PreviewLatencyErrorBudgetBurn", severity="warn", slo="preview-latency", tier="ticket_1d"),
            alert("PreviewQueueStalled", severity="warn"),
        ]
        response = am.http.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

        def states() -> dict[tuple[str, str], str] | None:
            got = {(a["labels"]["alertname"], a["labels"]["severity"]): a["status"]["state"] for a in am.alerts()}
            if len(got) < 4 or "unprocessed" in got.values():
                return None
            return got

        got = am.wait_for(states, timeout=15)
    assert got[("PreviewSuccessErrorBudgetBurn", "page")] == "active"
    assert got[("PreviewSuccessErrorBudgetBurn", "warn")] == "suppressed"  # inhibited by the page
    assert got[("PreviewLatencyErrorBudgetBurn", "warn")] == "active"  # another SLO: not inhibited
    assert got[("PreviewQueueStalled", "warn")] == "active"  # not an SLO alert: never inhibited
