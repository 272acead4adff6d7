"""The LLM cost baseline and spike alert: generated rules, and generated promtool tests that really fail."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from jobpulse.compile.build import BuildResult, compile_spec
from jobpulse.compile.llm_rules import llm_groups, llm_tests
from jobpulse.spec.load import load_spec_text
from jobpulse.verify.promtool import check_rules, run_tests
from tests.runtime.test_llm import SEED_002


def build(text: str = SEED_002) -> BuildResult:
    return compile_spec(load_spec_text(text))


def test_rules_are_offset_free_and_guarded() -> None:
    (group,) = llm_groups(load_spec_text(SEED_002))
    assert group["name"] == "luneo.llm-cost"
    current, day, week, alert = group["rules"]
    assert current == {
        "record": "luneo_ai_cost_current_usd",
        "expr": "sum (rate(luneo_openai_cost_usd_total[5m])) * 3600",
        "labels": {"time_window": "5m"},
    }
    assert day["record"] == week["record"] == "luneo_ai_cost_baseline_usd"
    assert (day["labels"], week["labels"]) == ({"time_window": "1d"}, {"time_window": "7d"})
    for rule in (day, week):
        assert "offset" not in rule["expr"]
        assert ") > 0" in rule["expr"]  # the count is guarded: no division by zero, no NaN
    assert alert["alert"] == "CostSpikeDetected" and alert["for"] == "5m"
    assert '>= ignoring(time_window)\n2 * luneo_ai_cost_baseline_usd{time_window="1d"}' in alert["expr"]


def test_no_baseline_no_rules() -> None:
    data = yaml.safe_load(SEED_002)
    del data["llm"]["baseline"]
    spec = load_spec_text(yaml.safe_dump(data))
    assert llm_groups(spec) == [] and llm_tests(spec) == []


def test_by_labels_are_kept() -> None:
    data = yaml.safe_load(SEED_002)
    data["llm"]["baseline"]["by"] = ["model"]
    (group,) = llm_groups(load_spec_text(yaml.safe_dump(data)))
    assert group["rules"][0]["expr"].startswith("sum by (model) (rate(")
    tests = llm_tests(load_spec_text(yaml.safe_dump(data)))
    fired = tests[0].body["alert_rule_test"][-1]["exp_alerts"][0]["exp_labels"]
    assert fired == {"model": "dall-e-3", "severity": "warning"}


@pytest.mark.integration
def test_generated_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(build().get("prometheus/luneo.rules.yml").content))
    result = check_rules(path, promtool=promtool)
    assert result.ok, result.output


@pytest.mark.integration
def test_spike_fires_on_doubled_cost_and_not_on_30_percent(promtool: str) -> None:
    results = run_tests(build(), promtool=promtool)
    names = [r.name for r in results]
    assert names == [
        "llm cost: CostSpikeDetected fires when the cost rate doubles",
        "llm cost: CostSpikeDetected stays silent when the cost rises by 30%",
        "llm cost: CostSpikeDetected stays silent through hourly variation of +-30%",
        "llm cost: CostSpikeDetected stays silent with zero cost, and the baseline is 0 (not NaN)",
    ]
    assert all(r.passed for r in results), "\n".join(r.output for r in results if not r.passed)


def _mutated(old: str, new: str) -> BuildResult:
    result = build()
    rules = result.get("prometheus/luneo.rules.yml").content
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert old in rule["expr"]
                rule["expr"] = rule["expr"].replace(old, new)
    rules.clear()
    rules.update(mutated)
    return result


@pytest.mark.integration
@pytest.mark.parametrize(
    ("old", "new", "failing"),
    [
        # a spike alert at 1.2x fires on +30%: the silent cases fail
        ("2 * luneo", "1.2 * luneo", "stays silent when the cost rises by 30%"),
        # at 2.5x it misses the doubled cost
        ("2 * luneo", "2.5 * luneo", "fires when the cost rate doubles"),
        # without the floor it fires on zero cost (0 >= 2 * 0)
        (" > 0", " >= 0", "stays silent with zero cost"),
    ],
)
def test_generated_tests_catch_a_wrong_alert(promtool: str, old: str, new: str, failing: str) -> None:
    mutated = _mutated(old, new)
    # only the test that must catch it runs (each takes seconds: a day of history at the 1m evaluation interval)
    mutated.test_groups[:] = [g for g in mutated.test_groups if failing in g.name]
    assert len(mutated.test_groups) == 1
    results = run_tests(mutated, promtool=promtool)
    assert [r.passed for r in results] == [False], results[0].output
