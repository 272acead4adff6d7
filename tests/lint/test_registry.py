"""The check registry: stable ids, automatic discovery, and a doc page per check (and a check per page)."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest

from jobpulse.lint import checks as checks_package
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import CHECK_ID, all_checks, check

DOCS = Path(__file__).resolve().parents[2] / "docs" / "checks"


def test_every_check_module_registers_one_check_named_after_it() -> None:
    modules = sorted(info.name for info in pkgutil.iter_modules(checks_package.__path__))
    registered = sorted(c.doc_name for c in all_checks().values())
    assert modules == registered


def test_check_ids_are_group_slash_name() -> None:
    for check_id, item in all_checks().items():
        assert CHECK_ID.match(check_id)
        assert item.run.__module__ == f"jobpulse.lint.checks.{item.doc_name}"
        assert item.summary and item.summary != check_id, f"{check_id} needs a docstring"


def test_every_check_has_a_doc_page_and_every_page_a_check() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")}
    names = {c.doc_name for c in all_checks().values()}
    assert pages == names, f"pages without a check: {pages - names}; checks without a page: {names - pages}"


@pytest.mark.parametrize("check_id", sorted(all_checks()))
def test_doc_page_names_the_check_and_its_severity(check_id: str) -> None:
    item = all_checks()[check_id]
    text = (DOCS / f"{item.doc_name}.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# {check_id}"
    row = re.search(r"^\| (\w+) \| (.+) \| `src/jobpulse/lint/checks/(\w+)\.py` \|$", text, re.MULTILINE)
    assert row is not None
    assert row.group(1) == item.severity.value
    assert row.group(3) == item.doc_name
    assert ("a spec (" in row.group(2)) == item.needs_catalogue
    assert ("--online" in row.group(2)) == item.online
    assert f"disable={check_id} --" in text


def test_registering_an_id_twice_or_a_bad_id_fails() -> None:
    with pytest.raises(ValueError, match="group/name"):
        check("NoSlash", severity=ERROR)
    existing = next(iter(all_checks().values()))
    with pytest.raises(ValueError, match="registered twice"):
        check(existing.id, severity=ERROR)(lambda ctx: None)


def test_docs_lint_md_lists_every_check() -> None:
    text = (DOCS.parent / "lint.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| \[`([a-z_]+/[a-z_]+)`\]\(checks/([a-z_]+)\.md\) \| (\w+) \|", text, re.MULTILINE)
    assert [(i, n, s) for i, n, s in listed] == [(c.id, c.doc_name, c.severity.value) for c in all_checks().values()]
