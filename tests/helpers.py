"""Test helpers shared by several test modules."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIEW_SPEC = ROOT / "examples" / "preview_jobs" / "jobpulse.yaml"
EXAMPLE_SPECS = sorted((ROOT / "examples").glob("*/jobpulse.yaml"))

MINIMAL_SPEC = """\
version: jobpulse/v1
service:
  name: mini
metrics:
  - name: jobs_total
    type: counter
    help: Jobs enqueued.
    labels:
      queue: {values: [default, high]}
      tenant: {max_values: 3}
  - name: jobs_done_total
    type: counter
    help: Jobs finished.
    labels:
      queue: {values: [default, high]}
      outcome: {values: [ok, error]}
  - name: job_seconds
    type: histogram
    unit: seconds
    help: Job duration.
    labels:
      outcome: {values: [ok, error]}
    buckets: [0.1, 1, 10]
  - name: job_wait_seconds
    type: histogram
    unit: seconds
    help: Queue wait.
    buckets: [0.1, 1, 10]
  - name: jobs_started_total
    type: counter
    help: Attempts started.
  - name: jobs_retried_total
    type: counter
    help: Retries.
  - name: queue_depth
    type: gauge
    help: Waiting.
    labels:
      queue: {values: [default, high]}
  - name: jobs_in_flight
    type: gauge
    help: Running.
jobs:
  - name: work
    attributes: [queue, tenant]
    outcome_label: outcome
    outcomes: {success: ok, failure: error}
    metrics:
      enqueued: jobs_total
      started: jobs_started_total
      completed: jobs_done_total
      retried: jobs_retried_total
      duration: job_seconds
      queue_wait: job_wait_seconds
      queue_depth: queue_depth
      in_flight: jobs_in_flight
"""


def write_spec(tmp_path: Path, text: str = MINIMAL_SPEC, name: str = "jobpulse.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
