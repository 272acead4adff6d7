"""Reading OpenSLO files: every document (lists flattened), its version, and what each kind contributes.

Only v1 documents are read; v1alpha and v2alpha ones get a problem saying how to rewrite them. ``SLO``
documents are converted; ``SLI`` and ``DataSource`` ones resolve references; the rest are listed as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from jobpulse.importers.common import SourceFormatError

V1 = frozenset({"openslo/v1", "openslo.com/v1"})  # openslo.com/v1: the Kubernetes CRD group (osko)
V1ALPHA = frozenset({"openslo/v1alpha", "openslo.com/v1alpha"})
V2ALPHA = frozenset({"openslo/v2alpha", "openslo.com/v2alpha"})
#: context documents: used to resolve references, nothing to convert on their own
CONTEXT_KINDS = frozenset({"SLI", "Service", "DataSource"})


@dataclass(frozen=True)
class Documents:
    slos: list[dict[str, Any]]
    slis: dict[str, dict[str, Any]]
    sources: dict[str, str]  # DataSource name -> type
    others: list[tuple[str, str, str]]  # (apiVersion, kind, name) of documents not converted


def _flatten(loaded: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in loaded:
        if isinstance(item, list):
            out += _flatten(item)
        elif item is not None:
            out.append(item)
    return out


def meta_name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "unnamed")) if isinstance(meta, dict) else "unnamed"


def read_documents(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every OpenSLO document (lists flattened) and a problem per document of another OpenSLO version."""
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise SourceFormatError(f"not YAML: {exc}") from None
    docs = [d for d in _flatten(loaded) if isinstance(d, dict)]
    versions = {str(d.get("apiVersion", "")) for d in docs}
    if not versions & (V1 | V1ALPHA | V2ALPHA):
        raise SourceFormatError("no OpenSLO document found (apiVersion: openslo/v1)")
    problems: list[str] = []
    v1 = []
    other: dict[str, list[str]] = {}
    for doc in docs:
        version, name = str(doc.get("apiVersion", "")), meta_name(doc)
        if version in V1:
            v1.append(doc)
        else:
            other.setdefault(version, []).append(f"{doc.get('kind', '?')} {name}")
    for version, names in other.items():
        listed = ", ".join(names)
        if version in V1ALPHA:
            problems.append(
                f"{listed}: OpenSLO v1alpha, which jobpulse does not read; v1 replaced it (spec.indicator instead "
                "of ratioMetrics inside objectives, timeWindow: [{duration: 28d}] instead of unit/count): rewrite "
                "as apiVersion: openslo/v1"
            )
        elif version in V2ALPHA:
            problems.append(f"{listed}: OpenSLO v2alpha, a draft jobpulse does not read yet; write it as openslo/v1")
        else:
            problems.append(f"{listed}: apiVersion {version or '(none)'!r} is not OpenSLO; skipped")
    return v1, problems


def collect(docs: list[dict[str, Any]]) -> Documents:
    slos: list[dict[str, Any]] = []
    slis: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    others: list[tuple[str, str, str]] = []
    for doc in docs:
        kind, name = doc.get("kind"), meta_name(doc)
        raw = doc.get("spec")
        spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == "SLO":
            slos.append(doc)
        elif kind == "SLI":
            slis[name] = spec
        elif kind == "DataSource":
            sources[name] = str(spec.get("type", ""))
        if kind not in CONTEXT_KINDS and kind != "SLO":
            others.append((str(doc.get("apiVersion")), str(kind), name))
    return Documents(slos, slis, sources, others)
