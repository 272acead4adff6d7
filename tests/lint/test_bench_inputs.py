"""The benchmark's generated rules are clean: 1,000 alerts against 200 metrics give no false positive."""

from __future__ import annotations

import random

from benchmarks.bench_lint import METRICS, RULES, catalogue_spec, rule_file

from jobpulse.lint.catalogue import load_catalogue
from jobpulse.lint.runner import lint_text


def test_generated_rules_lint_clean_against_the_generated_catalogue() -> None:
    rng = random.Random(4)
    spec_text, metrics = catalogue_spec(rng)
    rules_text = rule_file(rng, metrics)
    catalogue = load_catalogue(spec_text, "bench.jobpulse.yaml")
    problems, docs = lint_text(rules_text, "bench.rules.yml", catalogue=catalogue)
    assert len(catalogue.spec.metrics) == METRICS
    assert len(docs[0].rules) == RULES
    assert problems == []
