"""Compressed time: the app clock, and rule files whose durations shrink by the clock's speed (they still load
in promtool, and a real Prometheus evaluates them as the uncompressed rules would, ``speed`` times sooner)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import promql_parser
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from jobpulse.compile import compile_spec
from jobpulse.spec.load import load_spec
from jobpulse.spec.slo import duration_seconds
from jobpulse.verify.timescale import CLOCK_ENV, SpeedClock, compress_duration, compress_expr, compress_rules
from tests.helpers import EXAMPLE_SPECS


def test_ranges_subqueries_offsets_and_for_shrink() -> None:
    expr = 'sum(rate(x{a="[5m]"}[10m])) > 2 * avg_over_time(sum(increase(x[5m]))[1d:5m] offset 1h)'
    assert compress_expr(expr, 60, origin=0) == (
        'sum(rate(x{a="[5m]"}[10000ms])) > 2 * avg_over_time(sum(increase(x[5000ms]))[1440000ms:5000ms] offset 60000ms)'
    )
    assert compress_expr("rate(x[1h30m])[2h:]", 3600, origin=0) == "rate(x[1500ms])[2000ms:]"
    assert compress_expr("x offset -5m", 300, origin=0) == "x offset -1000ms"
    assert compress_expr("rate(x[1m])", 120, origin=0, min_range=2) == "rate(x[2000ms])"
    assert compress_duration("15m", 120) == "7500ms" and compress_duration("0s", 120) == "0s"


def test_a_short_for_still_spans_several_scrapes() -> None:
    rules = {"groups": [{"name": "g", "rules": [{"alert": "Down", "expr": "up == 0", "for": "1m"}]}]}
    [rule] = compress_rules(rules, 120, origin=0, interval="500ms", min_for=2)["groups"][0]["rules"]
    assert rule["for"] == "2000ms"  # not 500ms: one slow scrape must not fire ServiceDown


def test_time_becomes_the_virtual_now() -> None:
    expr = "time() - max by (worker) (worker_last_heartbeat_timestamp_seconds) > 300"
    out = compress_expr(expr, 120, origin=1700000000.5)
    assert out.startswith("(1700000000.5 + (time() - 1700000000.5) * 120.0) - max by (worker)")
    promql_parser.parse(out)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_speed_one_keeps_every_duration(n: int, unit: str) -> None:
    text = f"{n}{unit}"
    assert float(duration_seconds(compress_duration(text, 1))) == pytest.approx(float(duration_seconds(text)))


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_every_example_rule_file_compresses_to_rules_promtool_loads(
    spec_path: Path, tmp_path: Path, promtool: str
) -> None:
    rules = compile_spec(load_spec(spec_path)).get(compile_spec(load_spec(spec_path)).rule_file).content
    compressed = compress_rules(rules, 120, origin=time.time(), interval="500ms", min_range=2)
    before = [r for g in rules["groups"] for r in g["rules"]]
    after = [r for g in compressed["groups"] for r in g["rules"]]
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        promql_parser.parse(new["expr"])
        if "for" in old:
            assert float(duration_seconds(new["for"])) == pytest.approx(float(duration_seconds(old["for"])) / 120, 0.01)
        assert "[5m]" not in new["expr"] and "[1h]" not in new["expr"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(compressed, sort_keys=False))
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_compressed_rules_fire_speed_times_sooner_in_promtool(tmp_path: Path, promtool: str) -> None:
    """A 10-minute `for` over a 5-minute rate, compressed 60x, fires after 10 s of the same (faster) series."""
    rules = {
        "groups": [
            {
                "name": "g",
                "interval": "1m",
                "rules": [{"alert": "Hot", "expr": "rate(x_total[5m]) > 1", "for": "10m", "labels": {"s": "x"}}],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(compress_rules(rules, 60, origin=0, interval="1s")))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                # 2 per real second: hot from the start
                "input_series": [{"series": "x_total", "values": "0+2x40"}],
                "alert_rule_test": [
                    {"eval_time": "8s", "alertname": "Hot", "exp_alerts": []},
                    {"eval_time": "16s", "alertname": "Hot", "exp_alerts": [{"exp_labels": {"s": "x"}}]},
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    run = subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_clock_runs_speed_times_faster_and_travels_in_the_environment() -> None:
    clock = SpeedClock(100)
    start_wall, start_mono = clock.time(), clock.monotonic()
    real_start = time.monotonic()
    asyncio.run(clock.sleep(5))  # 50 ms real
    real = time.monotonic() - real_start
    assert real >= 0.045
    # virtual time went 100x as far as real time (whatever a loaded machine added to the sleep)
    assert clock.time() - start_wall == pytest.approx(100 * real, rel=0.2, abs=0.5)
    assert clock.monotonic() - start_mono == pytest.approx(100 * real, rel=0.2, abs=0.5)
    assert clock.real(60) == pytest.approx(0.6)
    child = SpeedClock.from_env(clock.env())
    assert (child.speed, child.origin) == (clock.speed, clock.origin)
    assert abs(child.time() - clock.time()) < 5
    plain = SpeedClock.from_env({})
    assert plain.speed == 1.0 and abs(plain.time() - time.time()) < 1
    with pytest.raises(ValueError, match=CLOCK_ENV):
        SpeedClock.from_env({CLOCK_ENV: "fast"})
    with pytest.raises(ValueError, match="positive"):
        SpeedClock(0)
