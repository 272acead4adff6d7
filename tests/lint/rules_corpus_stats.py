"""Lint the public rule corpus (tests/lint/rules_corpus) and count: the numbers in docs/lint.md's precision table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from jobpulse.lint.runner import lint_paths

CORPUS = Path(__file__).parent / "rules_corpus"


def rule_count() -> int:
    count = 0
    for path in sorted(CORPUS.rglob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            groups = doc.get("groups") or (doc.get("spec") or {}).get("groups") or []
            count += sum(len(g.get("rules") or []) for g in groups)
    return count


def findings() -> Counter[tuple[str, str]]:
    """(severity, check) -> count over the whole corpus, linted without a spec."""
    result = lint_paths([CORPUS])
    return Counter((p.severity.value, p.check) for p in result.problems)


if __name__ == "__main__":  # python -m tests.lint.rules_corpus_stats
    print(f"{len(list(CORPUS.rglob('*.y*ml')))} files, {rule_count()} rules")
    for (severity, check), n in sorted(findings().items()):
        print(f"{severity:8} {check:28} {n}")
