"""Helpers for the seed corpus: lint a seed's fixture files and name each finding by its expression."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from jobpulse.lint.catalogue import load_catalogue
from jobpulse.lint.problem import Problem
from jobpulse.lint.runner import lint_text

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "seeds"
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _data(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def owner(data: Any, dotted: str) -> str:
    """The alert, panel, monitor or metric that holds the node at ``dotted`` (its name or title)."""
    node = data
    name = ""
    for key, index in _PART.findall(dotted):
        if isinstance(node, dict):
            for field in ("alert", "record", "title", "name"):
                if isinstance(node.get(field), str):
                    name = node[field]
                    break
        node = node[int(index)] if index else node[key]
    if isinstance(node, dict):
        for field in ("alert", "record", "title", "name"):
            if isinstance(node.get(field), str):
                return str(node[field])
    return name


def lint_seed(seed: str) -> list[Problem]:
    catalogue_path = SEEDS / f"{seed}.catalogue.yaml"
    catalogue = None
    if catalogue_path.exists():
        catalogue = load_catalogue(catalogue_path.read_text(encoding="utf-8"), str(catalogue_path))
    problems: list[Problem] = []
    for path in sorted(SEEDS.glob(f"{seed}.*")):
        if path.suffix in (".yaml", ".yml", ".json"):
            found, _ = lint_text(path.read_text(encoding="utf-8"), str(path), catalogue=catalogue)
            problems += found
    return problems


def findings(seed: str) -> list[tuple[str, str, str, str]]:
    """(file, check, expression owner, severity) for every finding, in file order."""
    out = []
    for p in lint_seed(seed):
        file = Path(p.file)
        out.append((file.name.split(".", 1)[1], p.check, owner(_data(file), p.path), p.severity.value))
    return out
