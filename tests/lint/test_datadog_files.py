"""`jobpulse lint` on the Datadog files a build writes: clean against their spec, and a wrong metric name or
percentile in a dashboard or monitor file is reported at its line and column."""

from __future__ import annotations

import json
from pathlib import Path

from jobpulse.compile import compile_spec
from jobpulse.lint.runner import lint_paths
from jobpulse.render.files import write_build
from jobpulse.spec.load import load_spec

SPEC = Path(__file__).resolve().parents[2] / "examples" / "prompt_rollout" / "jobpulse.yaml"


def build(tmp_path: Path) -> Path:
    out = tmp_path / "build"
    write_build(compile_spec(load_spec(SPEC)), out)
    return out / "datadog"


def test_the_built_datadog_files_lint_clean_against_their_spec(tmp_path: Path) -> None:
    datadog = build(tmp_path)
    result = lint_paths([datadog], spec=SPEC)
    kinds = {Path(path).name: kind for path, kind in result.kinds.items()}
    assert kinds == {"monitors.json": ["Datadog monitors"], "prompter-v7-rollout.json": ["Datadog dashboard"]}
    assert result.problems == []


def test_a_wrong_name_in_a_dashboard_or_a_monitor_is_located(tmp_path: Path) -> None:
    datadog = build(tmp_path)
    dashboard = datadog / "prompter-v7-rollout.json"
    text = dashboard.read_text().replace("prompter.probe.failures{", "prompter.probe.failure{")
    dashboard.write_text(text)
    monitors = datadog / "monitors.json"
    data = json.loads(monitors.read_text())
    query = data[4]["query"]
    data[4]["query"] = query.replace("p95:prompter.ensure_version.latency", "p95:prompter.db.unique_violation")
    monitors.write_text(json.dumps(data, indent=2))
    monitor_line = next(n for n, row in enumerate(monitors.read_text().splitlines(), 1) if "p95:prompter.db" in row)
    result = lint_paths([datadog], spec=SPEC)
    found = sorted((Path(p.file).name, p.check, p.line, p.message.split(";")[0]) for p in result.problems)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "prompter.probe.failure{" in row)
    assert found == [
        ("monitors.json", "datadog/metric", monitor_line, "pNN: needs a distribution"),
        (
            "prompter-v7-rollout.json",
            "datadog/metric",
            line,
            "unknown Datadog metric 'prompter.probe.failure': no catalogue metric is sent under that name",
        ),
    ]
