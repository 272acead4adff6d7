"""``jobpulse canary SPEC --prometheus URL``: judge a rollout phase's canary against its baseline."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from jobpulse.cli.common import fail, load_or_exit
from jobpulse.extras import require


def parse_time(text: str, option: str) -> float:
    """Unix seconds or RFC 3339 (``2026-01-05T10:30:00Z``); ``now`` for the current time."""
    if text == "now":
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected Unix seconds or an RFC 3339 time such as 2026-01-05T10:30:00Z, got {text!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@click.command("canary")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--prometheus", "url", required=True, metavar="URL", help="The Prometheus to ask, e.g. http://localhost:9090."
)
@click.option("--rollout", "rollout_name", metavar="NAME", help="Which of the spec's rollouts (default: the only one).")
@click.option(
    "--phase",
    "phase_name",
    metavar="NAME",
    help="The phase to judge (default: the one whose weight is closest to the canary's share of the traffic).",
)
@click.option(
    "--at",
    "at_text",
    default="now",
    metavar="TIME",
    help="End of the judged window (Unix seconds or RFC 3339; default now).",
)
@click.option(
    "--since",
    "since_text",
    metavar="TIME",
    help="Start of the judged window (default: the phase's min_duration before --at).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option(
    "--bearer-token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Send the token in this file as `Authorization: Bearer` to Prometheus.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1, max=600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each Prometheus query.",
)
def canary_command(
    spec: Path,
    url: str,
    rollout_name: str | None,
    phase_name: str | None,
    at_text: str,
    since_text: str | None,
    fmt: str,
    bearer_token_file: Path | None,
    timeout: float,
) -> None:
    """Judge a rollout phase: is the canary worse than the baseline?

    Pulls one sample per interval and side from Prometheus for each metric of the spec's `rollouts` entry,
    drops outliers, runs a Mann-Whitney U test with a Hodges-Lehmann interval and the allowed-difference gate,
    and prints a verdict per metric and for the phase, with the numbers behind it.

    Exit codes: 0 pass, 1 fail, 3 inconclusive (too little traffic or no data on a side), 2 usage or spec
    error or Prometheus could not be asked. Gate a deployment on exit code 0.
    """
    require("scipy", extra="canary", feature="jobpulse canary")
    from jobpulse.canary.fetch import judge_phase
    from jobpulse.canary.report import RENDERERS
    from jobpulse.prometheus_api import PrometheusAPI, PrometheusAPIError

    model = load_or_exit(spec)
    if not model.rollouts:
        fail(f"{spec} has no `rollouts` section: nothing to judge (see docs/canary.md)")
    names = [r.name for r in model.rollouts]
    if rollout_name is None:
        if len(names) > 1:
            fail(f"{spec} has {len(names)} rollouts ({', '.join(names)}): choose one with --rollout")
        rollout = model.rollouts[0]
    else:
        found = next((r for r in model.rollouts if r.name == rollout_name), None)
        if found is None:
            fail(f"--rollout: no rollout {rollout_name!r} in {spec}; it has {', '.join(names)}")
        rollout = found
    phase = None
    if phase_name is not None:
        phase = rollout.phase(phase_name)
        if phase is None:
            fail(
                f"--phase: rollout {rollout.name} has no phase {phase_name!r}; its phases are "
                f"{', '.join(p.name for p in rollout.phases)}"
            )
    at = parse_time(at_text, "--at")
    since = None if since_text is None else parse_time(since_text, "--since")
    if since is not None and since + rollout.interval_seconds > at:
        fail(f"--since must be at least one interval ({rollout.interval}) before --at")
    token = None
    if bearer_token_file is not None:
        token = bearer_token_file.read_text(encoding="utf-8").strip()
    try:
        client = PrometheusAPI(url, timeout=timeout, token=token)
        verdict = judge_phase(client, rollout, phase, at, since)
    except PrometheusAPIError as exc:
        fail(f"cannot judge the canary: {exc}")
    click.echo(RENDERERS[fmt](verdict), nl=False)
    sys.exit(verdict.exit_code)
