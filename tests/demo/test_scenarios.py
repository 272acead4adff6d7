"""Each example's scenarios.yaml: well formed, every alert it names exists, the app knows every scenario it plays,
and the README lists them; malformed files are refused with the file and entry named."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobpulse.demo.example import load_example
from jobpulse.demo.scenarios import SCENARIOS_FILE, ScenarioError, load_scenarios, read_scenarios, read_unreachable
from jobpulse.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob(f"*/{SCENARIOS_FILE}"))


def test_the_seed_examples_have_scenarios() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"preview_jobs", "ai_shorts", "render_pipeline", "platform", "prompt_rollout"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_alert_a_scenario_fires_is_an_alert_of_the_spec(example: Path) -> None:
    spec = load_spec(example / "jobpulse.yaml")
    alerts = {a.name for a in spec.alerts} | {s.alert_name for s in spec.slos}
    alerts |= {s.absent_alert_name for s in spec.slos if s.absent_enabled}
    scenarios = load_scenarios(example)
    for scenario in scenarios.values():
        assert set(scenario.fires) <= alerts, (scenario.name, set(scenario.fires) - alerts)
    # every alert of the spec is fired by some scenario, or says why none can
    fired = {a for s in scenarios.values() for a in s.fires}
    unreachable = read_unreachable(example / SCENARIOS_FILE)
    seed_alerts = {a.name for a in spec.alerts}
    assert seed_alerts <= fired | set(unreachable), (
        f"no scenario fires {sorted(seed_alerts - fired - set(unreachable))}"
    )
    assert set(unreachable) <= seed_alerts - fired


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_app_plays_every_scenario_the_demo_does_not(example: Path) -> None:
    app_module = load_example(example).app_module
    scenarios = load_scenarios(example)
    played_by_app = [s.name for s in scenarios.values() if s.app_down is None and s.rollout is None]
    assert list(app_module.FAULT_SCENARIOS) == played_by_app
    readme = (example / "README.md").read_text()
    for name in scenarios:
        assert f"`{name}`" in readme, f"{example.name}/README.md does not mention scenario {name}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios: {}", "expected a `scenarios:` mapping"),
        ("scenarios: {stall: {effect: x, fires: [A]}}", "needs a `healthy` scenario"),
        ("scenarios: {healthy: {effect: x, fires: [A]}}", "needs a `healthy` scenario that fires nothing"),
        ("scenarios: {healthy: {effect: x}, Bad_Name: {effect: y}}", "lower-case words"),
        ("scenarios: {healthy: {effect: ''}}", "scenarios.healthy.effect"),
        ("scenarios: {healthy: {effect: x, fires: A}}", "scenarios.healthy.fires"),
        ("scenarios: {healthy: {effect: x}, down: {effect: y, app_down: soon}}", "scenarios.down.app_down"),
        ("scenarios: {healthy: {effect: x, colour: red}}", "expected a mapping with effect"),
        ("scenarios: [", "not YAML"),
    ],
)
def test_malformed_files_name_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / SCENARIOS_FILE
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as caught:
        read_scenarios(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["unreachable: [A]", "unreachable: {A: ''}", "unreachable: {A: 3}", "unreachable: x"])
def test_unreachable_maps_an_alert_to_its_reason(tmp_path: Path, text: str) -> None:
    path = tmp_path / SCENARIOS_FILE
    path.write_text("scenarios: {healthy: {effect: x}}\n" + text)
    with pytest.raises(ScenarioError, match="`unreachable:` maps an alert name to the reason") as caught:
        read_unreachable(path)
    assert str(path) in str(caught.value)
    path.write_text("scenarios: {healthy: {effect: x}}\nunreachable: {A: no day before}")
    assert read_unreachable(path) == {"A": "no day before"}


def test_an_example_without_the_file_keeps_the_four_names_the_demo_always_had(tmp_path: Path) -> None:
    assert list(load_scenarios(tmp_path)) == ["healthy", "failure-spike", "slow", "stall"]


def test_app_down_is_a_duration() -> None:
    scenarios = load_scenarios(ROOT / "examples" / "ai_shorts")
    assert scenarios["service-down"].app_down == 180.0
    assert scenarios["service-down"].fires == ("ServiceDown",)
