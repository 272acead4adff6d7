"""jobpulse build: deterministic, atomic, valid rules and importable dashboards."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobpulse.cli.build import build_command
from jobpulse.compile import compile_spec
from jobpulse.render import files as render_files
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec
from tests.helpers import EXAMPLE_SPECS, PREVIEW_SPEC


def _build(tmp_path: Path, spec: Path = PREVIEW_SPEC, name: str = "out") -> Path:
    out = tmp_path / name
    write_build(compile_spec(load_spec(spec)), out)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_writes_the_expected_files(tmp_path: Path) -> None:
    out = _build(tmp_path)
    assert sorted(_tree(out)) == [
        ".jobpulse-build",
        "alertmanager/alertmanager.yml",
        "docs/alerts.md",
        "docs/metrics.md",
        "grafana/phase2b-preview-dashboard.json",
        "grafana/preview-jobs-slo-preview-latency.json",
        "grafana/preview-jobs-slo-preview-success.json",
        "prometheus/preview-jobs.rules.yml",
        "scrape/prometheus.yml",
        "scrape/vmagent.yml",
        "tests/preview-jobs.eval-15m.tests.yml",
        "tests/preview-jobs.eval-30m.tests.yml",
        "tests/preview-jobs.eval-5m.tests.yml",
        "tests/preview-jobs.tests.yml",
    ]


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_build_is_byte_identical_across_runs(tmp_path: Path, spec: Path) -> None:
    assert _tree(_build(tmp_path, spec, "a")) == _tree(_build(tmp_path, spec, "b"))


def test_rules_keep_the_seed_alerts(tmp_path: Path) -> None:
    rules = yaml.safe_load((_build(tmp_path) / "prometheus/preview-jobs.rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["PreviewQueueStalled"] == {
        "alert": "PreviewQueueStalled",
        "expr": "preview_generation_queue_depth > 10",
        "for": "5m",
        "labels": {"severity": "warn"},
        "annotations": {
            "summary": "Preview queue depth above 10 for 5 minutes",
            "description": "Jobs are not draining – check worker status or queue backend.",
            "runbook_url": "docs/alerts.md#previewqueuestalled",
        },
    }
    assert alerts["PreviewGenerationHighFailureRate"]["labels"] == {"severity": "page"}
    assert alerts["PreviewGenerationSlow"]["expr"].rstrip().endswith(") > 300000")


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_generated_rules_pass_promtool(tmp_path: Path, spec: Path, promtool: str) -> None:
    out = _build(tmp_path, spec)
    for rule_file in (out / "prometheus").glob("*.yml"):
        proc = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_dashboards_follow_the_import_conventions(tmp_path: Path, spec: Path) -> None:
    out = _build(tmp_path, spec)
    dashboards = list((out / "grafana").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text())
        assert board["schemaVersion"] >= 39
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
        assert path.stem == board["uid"]
        variables = board["templating"]["list"]
        assert any(
            v["type"] == "datasource" and v["query"] == "prometheus" and v["name"] == "datasource" for v in variables
        )
        assert "__inputs" not in board
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and all(ids)
        for panel in board["panels"]:
            if panel["type"] == "row":  # a row holds no query; its panels follow it
                assert panel["title"] and panel["gridPos"]["w"] == 24
                continue
            assert panel["type"] in {"timeseries", "stat", "gauge", "piechart", "table", "bargauge"}
            assert panel["fieldConfig"]["defaults"].get("unit"), f"panel {panel['title']} has no unit"
            assert panel["datasource"]["uid"] == "${datasource}"
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)) and all(ref_ids)
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                assert target["expr"]


def test_dashboard_keeps_the_seed_promql(tmp_path: Path) -> None:
    board = json.loads((_build(tmp_path) / "grafana/phase2b-preview-dashboard.json").read_text())
    exprs = {p["title"]: p["targets"][0]["expr"] for p in board["panels"]}
    assert exprs["Preview queue depth"] == "preview_generation_queue_depth"
    assert 'rate(preview_generation_job_duration_ms_bucket{outcome="ready"}[15m])' in exprs["Job duration (p95 ms)"]


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_every_runbook_url_points_at_a_section(tmp_path: Path, spec: Path) -> None:
    out = _build(tmp_path, spec)
    _assert_runbooks_resolve(out)


def _assert_runbooks_resolve(out: Path) -> None:
    headings = {
        line[3:].strip().lower() for line in (out / "docs/alerts.md").read_text().splitlines() if line.startswith("## ")
    }
    checked = 0
    for rule_file in (out / "prometheus").glob("*.yml"):
        for group in yaml.safe_load(rule_file.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                url = rule["annotations"]["runbook_url"]
                if not url.startswith("docs/alerts.md#"):
                    continue  # an explicit runbook_url elsewhere
                assert url.split("#", 1)[1] in headings, url
                checked += 1
    assert checked


def test_metrics_doc_lists_every_metric(tmp_path: Path) -> None:
    text = (_build(tmp_path) / "docs/metrics.md").read_text()
    for name in load_spec(PREVIEW_SPEC).metrics:
        assert f"`{name}`" in text


def test_a_failed_write_leaves_the_previous_build_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _build(tmp_path)
    before = _tree(out)
    real = Path.write_bytes
    calls = {"n": 0}

    def flaky(self: Path, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(render_files.Path, "write_bytes", flaky)
    result = compile_spec(load_spec(PREVIEW_SPEC))
    with pytest.raises(OSError, match="disk full"):
        write_build(result, out)
    monkeypatch.undo()
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary directories are left behind"


def test_cli_build(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_command, [str(PREVIEW_SPEC), "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "built 13 files" in result.output
    assert (tmp_path / "b/prometheus/preview-jobs.rules.yml").exists()


def test_cli_build_spec_error_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "jobpulse.yaml"
    bad.write_text(PREVIEW_SPEC.read_text().replace("type: gauge", "type: guage"))
    result = CliRunner().invoke(build_command, [str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert re.match(rf"{re.escape(str(bad))}:\d+:\d+: error: metrics\[3\]\.type: expected ", lines[0])
    assert not (tmp_path / "out").exists()


def test_cli_build_usage_error_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_command, [])
    assert result.exit_code == 2


def test_build_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("do not lose me")
    result = CliRunner().invoke(build_command, [str(PREVIEW_SPEC), "-o", str(precious)])
    assert result.exit_code == 2
    assert "was not written by jobpulse" in result.output
    assert (precious / "notes.txt").read_text() == "do not lose me"
    # a directory jobpulse wrote is replaced; an empty one is used
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(build_command, [str(PREVIEW_SPEC), "-o", str(empty)]).exit_code == 0
    assert CliRunner().invoke(build_command, [str(PREVIEW_SPEC), "-o", str(empty)]).exit_code == 0
    assert (empty / ".jobpulse-build").exists()
