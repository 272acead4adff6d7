"""Spec model → intermediate build result (plain data and text, no I/O)."""

from jobpulse.compile.build import Artifact, BuildResult, compile_spec

__all__ = ["Artifact", "BuildResult", "compile_spec"]
