"""Build result → files: Prometheus YAML, Grafana JSON, Markdown; written atomically."""

from jobpulse.render.files import render_artifact, write_build

__all__ = ["render_artifact", "write_build"]
