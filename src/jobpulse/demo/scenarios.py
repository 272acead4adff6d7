"""An example's fault scenarios, from its ``scenarios.yaml``: what each one breaks and which alerts it fires.

``jobpulse demo EXAMPLE --scenario NAME`` accepts exactly these names; ``jobpulse demo --help`` lists them
per example; each example's end-to-end test runs every one against Prometheus and Alertmanager and checks
that exactly its ``fires`` alerts fire::

    scenarios:
      healthy: {effect: Renders take 50-300 ms and 0.5% fail., fires: []}
      failure-spike: {effect: ~35% of renders fail., fires: [PreviewGenerationHighFailureRate]}
      service-down: {effect: the demo stops its app for 3 minutes., fires: [ServiceDown], app_down: 3m}

A scenario with ``app_down`` is played by the demo itself: the app runs healthy, is stopped ten seconds
in and started again ``app_down`` later (its scrape target goes down and comes back).

A scenario with ``rollout: pass|fail`` is a rollout (:mod:`jobpulse.demo.rollout`): the example's app is served
as a baseline and a canary side by side (``create_app(track=..., scenario=NAME)``), the spec's rollout phases are
played, and ``rollout`` is the verdict ``jobpulse canary`` reaches; its ``fires`` is not checked (what fires
depends on the rollout's progress). Every example whose spec has a ``rollouts`` section is offered
:data:`ROLLOUT_SCENARIOS` (``good-canary``, ``bad-canary``) unless its file defines those names itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jobpulse.spec.slo import duration_seconds

__all__ = ["ROLLOUT_SCENARIOS", "SCENARIOS_FILE", "Scenario", "ScenarioError", "load_scenarios", "read_scenarios"]

SCENARIOS_FILE = "scenarios.yaml"
SPEC_FILE = "jobpulse.yaml"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h))+$")
HEALTHY = "healthy"
ROLLOUT_VERDICTS = ("pass", "fail")


class ScenarioError(ValueError):
    """``scenarios.yaml`` is missing or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Scenario:
    name: str
    effect: str
    fires: tuple[str, ...]
    #: the demo stops its own app this long (``None``: the app keeps running)
    app_down: float | None = None
    #: a rollout scenario: the final verdict of its rollout (``pass`` or ``fail``); ``None`` for a fault scenario
    rollout: str | None = None

    @property
    def healthy(self) -> bool:
        return not self.fires


def _scenario(path: Path, name: Any, body: Any) -> Scenario:
    where = f"{path}: scenarios.{name}"
    if not isinstance(name, str) or not NAME.match(name):
        raise ScenarioError(f"{path}: scenario names are lower-case words joined by '-', got {name!r}")
    if not isinstance(body, dict) or set(body) - {"effect", "fires", "app_down", "rollout"}:
        raise ScenarioError(f"{where}: expected a mapping with effect, fires and (optionally) app_down or rollout")
    effect, fires, down = body.get("effect"), body.get("fires", []), body.get("app_down")
    rollout = body.get("rollout")
    if rollout is not None and (rollout not in ROLLOUT_VERDICTS or down is not None):
        raise ScenarioError(f"{where}.rollout: expected pass or fail (and no app_down), got {rollout!r}")
    if not isinstance(effect, str) or not effect.strip():
        raise ScenarioError(f"{where}.effect: say what the scenario breaks")
    if not isinstance(fires, list) or not all(isinstance(f, str) and f for f in fires):
        raise ScenarioError(f"{where}.fires: expected a list of alert names")
    if down is not None and not (isinstance(down, str) and DURATION.match(down)):
        raise ScenarioError(f"{where}.app_down: expected a duration such as 3m, got {down!r}")
    return Scenario(
        name, " ".join(effect.split()), tuple(fires), float(duration_seconds(down)) if down else None, rollout
    )


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from exc


def read_unreachable(path: Path) -> dict[str, str]:
    """Alerts no scenario of ``path`` can make fire, each with the reason (``unreachable: {Alert: why}``)."""
    data = _load(path)
    entries = data.get("unreachable", {}) if isinstance(data, dict) else {}
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in entries.items()
    ):
        raise ScenarioError(f"{path}: `unreachable:` maps an alert name to the reason no scenario fires it")
    return {k: " ".join(v.split()) for k, v in entries.items()}


def read_scenarios(path: Path) -> dict[str, Scenario]:
    """The scenarios of ``path`` (a ``scenarios.yaml``), in file order; ``healthy`` must be one of them."""
    data = _load(path)
    entries = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ScenarioError(f"{path}: expected a `scenarios:` mapping of name -> {{effect, fires}}")
    scenarios = {str(name): _scenario(path, name, body) for name, body in entries.items()}
    if HEALTHY not in scenarios or not scenarios[HEALTHY].healthy:
        raise ScenarioError(f"{path}: needs a `healthy` scenario that fires nothing")
    return scenarios


#: what an example without ``scenarios.yaml`` is offered: the four names ``jobpulse demo`` always had, which the
#: example's ``create_app(scenario=...)`` interprets (their alerts are not declared, so none is checked)
DEFAULT_SCENARIOS = {
    HEALTHY: Scenario(HEALTHY, "the example's normal traffic", ()),
    "failure-spike": Scenario("failure-spike", "the example's failure spike (no scenarios.yaml)", ()),
    "slow": Scenario("slow", "the example's slowdown (no scenarios.yaml)", ()),
    "stall": Scenario("stall", "the example's stall (no scenarios.yaml)", ()),
}


#: what an example whose spec has a ``rollouts`` section is offered too: its app's ``create_app(track=...,
#: scenario=NAME)`` decides what the canary is like in each
ROLLOUT_SCENARIOS = {
    "good-canary": Scenario(
        "good-canary",
        "A rollout whose canary behaves like its baseline: every phase passes and the canary is promoted.",
        (),
        rollout="pass",
    ),
    "bad-canary": Scenario(
        "bad-canary",
        "A rollout whose canary regressed: its first phase fails and it is rolled back.",
        (),
        rollout="fail",
    ),
}


def _has_rollouts(spec_file: Path) -> bool:
    """Whether the spec has a ``rollouts`` section (a quick look: the spec's errors are reported where it loads)."""
    try:
        data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and bool(data.get("rollouts"))


def load_scenarios(example_dir: Path) -> dict[str, Scenario]:
    """The scenarios of an example directory (:data:`DEFAULT_SCENARIOS` when it has no ``scenarios.yaml``),
    and :data:`ROLLOUT_SCENARIOS` when its spec has a rollout."""
    path = example_dir / SCENARIOS_FILE
    scenarios = read_scenarios(path) if path.is_file() else dict(DEFAULT_SCENARIOS)
    if _has_rollouts(example_dir / SPEC_FILE):
        for name, scenario in ROLLOUT_SCENARIOS.items():
            scenarios.setdefault(name, scenario)
    return scenarios
