"""``jobpulse lint``: PromQL and convention checks for specs, rule files, PrometheusRules, dashboards and monitors.

Checks live one per module in :mod:`jobpulse.lint.checks` and register themselves with
:func:`jobpulse.lint.registry.check`; reporters are in :mod:`jobpulse.lint.reporters`.
"""

from jobpulse.lint.catalogue import Catalogue, load_catalogue
from jobpulse.lint.problem import Problem, Severity, Span
from jobpulse.lint.registry import Check, all_checks, check
from jobpulse.lint.runner import LintInputError, LintResult, lint_paths, lint_spec_problems, lint_text

__all__ = [
    "Catalogue",
    "Check",
    "LintInputError",
    "LintResult",
    "Problem",
    "Severity",
    "Span",
    "all_checks",
    "check",
    "lint_paths",
    "lint_spec_problems",
    "lint_text",
    "load_catalogue",
]
