"""Golden files: every generated artifact of every example, byte for byte.

Regenerate after an intended change with ``make golden`` (JOBPULSE_UPDATE_GOLDEN=1) and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from jobpulse.compile import compile_spec
from jobpulse.render.files import render_all
from jobpulse.spec.load import load_spec
from tests.helpers import EXAMPLE_SPECS

GOLDEN = Path(__file__).parents[1] / "golden"
UPDATE = os.environ.get("JOBPULSE_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_build_matches_golden_files(spec_path: Path) -> None:
    # paths in artifacts are relative, so the spec's location does not leak into the output
    files = render_all(compile_spec(load_spec(spec_path), kubernetes=True))  # --k8s: every artifact
    golden_dir = GOLDEN / spec_path.parent.name
    if UPDATE:
        shutil.rmtree(golden_dir, ignore_errors=True)
        for rel, content in files.items():
            (golden_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / rel).write_bytes(content)
    expected = {str(p.relative_to(golden_dir)): p.read_bytes() for p in golden_dir.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected), "the set of generated files changed: run `make golden`"
    for rel, content in files.items():
        assert content == expected[rel], f"{rel} differs from tests/golden/{golden_dir.name}/{rel}: run `make golden`"


def test_every_example_has_golden_files() -> None:
    assert EXAMPLE_SPECS, "no examples found"
    for spec_path in EXAMPLE_SPECS:
        assert (GOLDEN / spec_path.parent.name).is_dir(), f"no golden files for {spec_path.parent.name}"
