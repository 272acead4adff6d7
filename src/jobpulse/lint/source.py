"""YAML and JSON documents that remember where every node is, so each problem gets path:line:col.

Both formats are read with PyYAML's composer (JSON is YAML), through the one position tracker of
:mod:`jobpulse.spec.yamlpos`. For every data path we keep the node's start and end; a scalar's raw
source is kept too, so that a token inside a query (a metric name, a range) can be located inside a block
scalar or a JSON string rather than only at the value's start.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

import yaml

from jobpulse.lint.problem import Span
from jobpulse.spec.yaml_limits import MAX_BYTES, MAX_DEPTH, check_text, read_limited
from jobpulse.spec.yamlpos import COLLECTION, MAX_NODES, Document, NodeSpan, PathKey, YamlSourceError, build

__all__ = [
    "COLLECTION",
    "MAX_BYTES",
    "MAX_NODES",
    "NodeSpan",
    "PathKey",
    "SourceError",
    "Tree",
    "comments",
    "load_trees",
    "read_text",
]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: The file cannot be read as YAML or JSON; carries a 1-based position.
SourceError = YamlSourceError


@dataclass
class Tree(Document):
    """One YAML document (or a whole JSON file): its data, where each path is, and spans for problems."""

    def span(self, path: PathKey, *, key: bool = False) -> Span:
        """Where ``path`` starts (its key when ``key``), else its nearest known ancestor; 1:1 when unknown."""
        probe = tuple(path)
        while True:
            node = self.nodes.get(probe)
            if node is not None:
                if key and node.key_line is not None and probe == tuple(path):
                    return self._key_span(node)
                return Span(node.start_line + 1, node.start_column + 1, node.start_line + 1, node.start_column + 2)
            if not probe:
                return Span.point(1, 1)
            probe = probe[:-1]

    def _key_span(self, node: NodeSpan) -> Span:
        assert node.key_line is not None
        return Span(node.key_line + 1, node.key_column + 1, node.key_line + 1, node.key_column + 2)

    def token_span(self, path: PathKey, value: str, token: str, nth: int = 0) -> Span:
        """The span of the ``nth`` occurrence of ``token`` in the scalar at ``path`` (whose value is ``value``).

        Falls back to the value's start when the token cannot be found in the raw source (escapes, folding).
        """
        fallback = self.span(path)
        if not token:
            return fallback
        pattern = _token_pattern(token)
        occurrences = [m.start() for m in pattern.finditer(value)]
        if not occurrences:
            return fallback
        nth = min(nth, len(occurrences) - 1)
        node = self.nodes.get(tuple(path))
        if node is None or node.style == COLLECTION:
            return fallback
        raw = self.text[node.start_index : node.end_index]
        found = [m.start() for m in pattern.finditer(raw)]
        if len(found) != len(occurrences):
            return fallback
        start = node.start_index + found[nth]
        line = self.text.count("\n", 0, start) + 1
        column = start - (self.text.rfind("\n", 0, start) + 1) + 1
        return Span(line, column, line, column + len(token))

    def extent(self, path: PathKey) -> tuple[int, int] | None:
        """First and last 1-based line of the node at ``path`` (from its key when it has one)."""
        node = self.nodes.get(tuple(path))
        if node is None:
            return None
        start = node.key_line if node.key_line is not None else node.start_line
        end = node.end_line if node.end_column > 0 or node.end_line == node.start_line else node.end_line - 1
        return start + 1, max(start, end) + 1


def _token_pattern(token: str) -> re.Pattern[str]:
    escaped = re.escape(token)
    before = r"(?<![A-Za-z0-9_:])" if re.match(r"[A-Za-z0-9_:]", token) else ""
    after = r"(?![A-Za-z0-9_:])" if re.search(r"[A-Za-z0-9_:]$", token) else ""
    return re.compile(before + escaped + after)


def read_text(path: str) -> str:
    """The file's text; a file over :data:`MAX_BYTES` raises :class:`SourceError` without being read whole."""
    return read_limited(path, encoding="utf-8-sig")


def load_trees(text: str, file: str) -> list[Tree]:
    """Every YAML document in ``text`` (a JSON file is one document), with positions."""
    check_text(text, file)
    loader = _Loader(text)
    trees: list[Tree] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            tree = Tree(file, text, None)
            tree.data = build(node, tree, loader)
            trees.append(tree)
    except yaml.MarkedYAMLError as exc:
        fallback = _json_fallback(text, file)
        if fallback is not None:
            return [fallback]
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise SourceError(file, line, column, f"invalid YAML: {exc.problem or exc.context or 'syntax error'}") from None
    except yaml.YAMLError as exc:
        fallback = _json_fallback(text, file)
        if fallback is not None:
            return [fallback]
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = getattr(exc, "reason", None) or "unreadable character"
        raise SourceError(file, line, column, f"invalid YAML: {reason}") from None
    except RecursionError:
        raise SourceError(file, 1, 1, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return trees


def _json_fallback(text: str, file: str) -> Tree | None:
    """JSON that PyYAML refuses (tabs in odd places, ``\\/``): data without positions."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if _depth(data) > MAX_DEPTH:
        raise SourceError(file, 1, 1, f"nested more than {MAX_DEPTH} levels deep")
    return Tree(file, text, data)


def _depth(data: object) -> int:
    """How many collections deep ``data`` nests (without recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                break
            stack.extend((item, depth + 1) for item in value)
    return deepest


def comments(tree_text: str, trees: list[Tree]) -> list[tuple[int, int, str]]:
    """YAML comments as (1-based line, 1-based column of ``#``, text after ``#``), skipping ``#`` in scalars."""
    blocked: list[tuple[int, int]] = []  # character ranges that are scalar content
    for tree in trees:
        for node in tree.nodes.values():
            if node.style in ("|", ">"):
                newline = tree_text.find("\n", node.start_index)
                if newline != -1 and newline < node.end_index:
                    blocked.append((newline + 1, node.end_index))
            elif node.style != COLLECTION:
                blocked.append((node.start_index, node.end_index))
    blocked.sort()
    starts = [lo for lo, _ in blocked]

    def in_scalar(index: int) -> bool:  # scalars are leaves: their ranges never overlap
        at = bisect.bisect_right(starts, index) - 1
        return at >= 0 and index < blocked[at][1]

    out: list[tuple[int, int, str]] = []
    offset = 0
    for number, line in enumerate(tree_text.split("\n"), start=1):
        if "#" in line:
            for match in re.finditer("#", line):
                index = offset + match.start()
                if match.start() > 0 and not line[match.start() - 1].isspace():
                    continue
                if in_scalar(index):
                    continue
                out.append((number, match.start() + 1, line[match.start() + 1 :].rstrip("\r")))
                break
        offset += len(line) + 1
    return out
