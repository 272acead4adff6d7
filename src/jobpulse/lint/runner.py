"""Run the registered checks over files and apply suppressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobpulse.lint import suppress
from jobpulse.lint.catalogue import Catalogue, load_catalogue
from jobpulse.lint.documents import KIND_NAMES, SPEC, Document, build, detect
from jobpulse.lint.online import PrometheusAPI
from jobpulse.lint.problem import WARNING, Problem, Severity, Span
from jobpulse.lint.registry import Check, Context, all_checks
from jobpulse.lint.source import SourceError, load_trees, read_text
from jobpulse.spec.targets import RuleTarget

LINTABLE_SUFFIXES = (".yaml", ".yml", ".json")


class LintInputError(ValueError):
    """A file lint cannot read or does not recognise: a usage error (exit 2)."""


@dataclass
class LintResult:
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    kinds: dict[str, list[str]] = field(default_factory=dict)

    def count(self, severity: Severity) -> int:
        return sum(1 for p in self.problems if p.severity is severity)

    def worst(self) -> Severity | None:
        return max((p.severity for p in self.problems), key=lambda s: s.rank, default=None)


def documents(text: str, file: str, *, required: bool = True) -> list[Document]:
    """The lintable documents in a file; spec errors raise SpecError, unreadable files LintInputError."""
    try:
        trees = load_trees(text, file)
    except SourceError as exc:
        raise LintInputError(str(exc)) from None
    docs = []
    for tree in trees:
        kind = detect(tree.data)
        if kind is not None:
            docs.append(build(tree, kind))
    if not docs and required:
        raise LintInputError(
            f"{file}: not a jobpulse spec, Prometheus rule file, PrometheusRule, Grafana dashboard, Datadog monitor "
            "or Datadog dashboard"
        )
    return docs


def run_checks(
    doc: Document,
    catalogue: Catalogue | None,
    online: PrometheusAPI | None,
    checks: dict[str, Check],
) -> tuple[list[Problem], set[str]]:
    """Every applicable check on one document: (problems, ids of the checks that ran)."""
    problems: list[Problem] = []
    ran: set[str] = set()
    for item in checks.values():
        if item.needs_catalogue and catalogue is None:
            continue
        if item.online and online is None:
            continue
        context = Context(doc, catalogue, online, item)
        item.run(context)
        problems.extend(context.problems)
        ran.add(item.id)
    return problems, ran


def lint_text(
    text: str,
    file: str,
    *,
    catalogue: Catalogue | None = None,
    online: PrometheusAPI | None = None,
    required: bool = True,
    target: RuleTarget | None = None,
) -> tuple[list[Problem], list[Document]]:
    """Lint one file's text; a spec document uses its own catalogue, others ``catalogue``."""
    docs = documents(text, file, required=required)
    for doc in docs:
        doc.target = target
    return lint_documents(text, file, docs, catalogue=catalogue, online=online), docs


def lint_documents(
    text: str,
    file: str,
    docs: list[Document],
    *,
    catalogue: Catalogue | None = None,
    online: PrometheusAPI | None = None,
) -> list[Problem]:
    """Run the checks over one file's documents and apply its suppressions."""
    checks = all_checks()
    trees = [d.tree for d in docs]
    raw: list[Problem] = []
    ran: set[str] = set()
    allow_sources: list[tuple[Catalogue, list[Problem]]] = []
    for doc in docs:
        used_catalogue = doc.catalogue if doc.kind == SPEC else catalogue
        found, doc_ran = run_checks(doc, used_catalogue, online, checks)
        ran |= doc_ran
        raw.extend(found)
        if used_catalogue is not None:
            allow_sources.append((used_catalogue, found))
    suppressions, malformed = suppress.comment_suppressions(text, trees) if trees else ([], [])
    kept: list[Problem] = []
    seen: set[int] = set()
    for cat, found in allow_sources:
        used: set[int] = set()
        kept.extend(suppress.apply(found, suppressions, cat.allow, used))
        seen.update(id(p) for p in found)
        if any(d.catalogue is cat for d in docs):
            kept.extend(_allow_problems(cat, used, set(checks), ran, docs))
    kept.extend(suppress.apply([p for p in raw if id(p) not in seen], suppressions, [], set()))
    kept.extend(suppress.comment_problems(file, suppressions, malformed, set(checks), ran))
    return sorted(kept, key=Problem.sort_key)


def _allow_problems(
    catalogue: Catalogue, used: set[int], known: set[str], ran: set[str], docs: list[Document]
) -> list[Problem]:
    out = []
    spec_doc = next(d for d in docs if d.catalogue is catalogue)
    for i, entry in enumerate(catalogue.allow):
        span = spec_doc.tree.span(entry.path)
        if entry.check not in known:
            message = f"lint.allow names unknown check {entry.check!r}"
        elif i not in used and entry.check in ran:
            where = f" at {entry.where!r}" if entry.where else ""
            message = f"lint.allow entry for {entry.check}{where} matches no problem"
        else:
            continue
        hint = "remove the entry, or fix its `where`" if entry.check in known else "see `jobpulse lint --list-checks`"
        out.append(Problem(suppress.SUPPRESSION_CHECK, WARNING, entry.file, span, message, hint, f"lint.allow[{i}]"))
    return out


def expand(paths: list[Path]) -> list[tuple[Path, bool]]:
    """Files to lint: (path, explicitly named). Directories are walked for .yaml, .yml and .json files."""
    out: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path).parts
                if any(part.startswith(".") for part in relative):
                    continue
                if found.is_file() and found.suffix in LINTABLE_SUFFIXES:
                    out.append((found, False))
        elif path.exists():
            out.append((path, True))
        else:
            raise LintInputError(f"{path}: no such file or directory")
    return out


def lint_paths(
    paths: list[Path],
    *,
    spec: Path | None = None,
    online: PrometheusAPI | None = None,
    target: RuleTarget | None = None,
) -> LintResult:
    """Lint files and directories against ``spec`` (or the one spec among them) as the catalogue.

    ``target`` (``--target``) is the rule engine the rule files are checked for; without it, the
    catalogue spec's ``lint.target``, else Prometheus.
    """
    catalogue = None
    if spec is not None:
        catalogue = load_catalogue(_read(spec), str(spec))
    files = expand(paths) if paths else ([(spec, True)] if spec is not None else [])
    loaded: list[tuple[Path, str, list[Document]]] = []
    for path, explicit in files:
        text = _read(path)
        docs = documents(text, str(path), required=explicit)
        if docs:
            loaded.append((path, text, docs))
    if catalogue is None:  # one spec among the paths is the catalogue of the other files
        specs = [doc.catalogue for _, _, docs in loaded for doc in docs if doc.catalogue is not None]
        if len(specs) == 1:
            catalogue = specs[0]
    # recording rules of every file linted together are known series (a dashboard over a rule file's records)
    recorded = {name for _, _, docs in loaded for doc in docs for name in doc.recorded}
    result = LintResult()
    for path, text, docs in loaded:
        for doc in docs:
            doc.known_records = recorded
            doc.target = target
        result.problems.extend(lint_documents(text, str(path), docs, catalogue=catalogue, online=online))
        result.files.append(str(path))
        result.kinds[str(path)] = [KIND_NAMES[d.kind] for d in docs]
    return result


def lint_spec_problems(spec: Path, target: RuleTarget | None = None) -> list[Problem]:
    """Problems in one spec file (for ``jobpulse build``)."""
    return lint_text(_read(spec), str(spec), target=target)[0]


def _read(path: Path) -> str:
    try:
        return read_text(str(path))
    except UnicodeDecodeError:
        raise LintInputError(f"{path}: not UTF-8 text") from None
    except SourceError as exc:
        raise LintInputError(str(exc)) from None
    except OSError as exc:
        raise LintInputError(f"{path}: cannot read: {exc.strerror}") from None


__all__ = ["LintInputError", "LintResult", "Span", "lint_paths", "lint_spec_problems", "lint_text"]
