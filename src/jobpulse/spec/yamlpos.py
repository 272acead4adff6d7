"""YAML loading that remembers where every key and value came from — for spec loading and for lint.

PyYAML's composed node tree carries marks; we construct plain Python data from it and keep, for each data path
(a tuple of keys and indexes), where its node starts and ends, where its key is and how a scalar was written.
Spec loading (:func:`load_yaml`) turns that into ``file:line:column`` for any later validation error; lint
(:mod:`jobpulse.lint.source`) also finds tokens inside scalars and comments between them.

Both read documents the same way: merge keys are applied, a recursive alias stops (``None``) instead of
recursing forever, and the bounds of :mod:`jobpulse.spec.yaml_limits` (size, nesting, aliases, nodes — an alias
bomb) are checked before anything is expanded. A scalar that its tag cannot construct (``!!int abc``) is a
located error like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from jobpulse.spec.errors import Location, Problem, SpecError, YamlSourceError
from jobpulse.spec.yaml_limits import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES, check_expansion, check_text

__all__ = [
    "COLLECTION",
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Document",
    "NodeSpan",
    "PathKey",
    "Positions",
    "YamlSourceError",
    "build",
    "dotted",
    "load_yaml",
]

PathKey = tuple[str | int, ...]
#: :attr:`NodeSpan.style` of a mapping or a sequence.
COLLECTION = "collection"
_STR = "tag:yaml.org,2002:str"
_CORE = "tag:yaml.org,2002:"
#: Tags a spec may use: JSON's types, plus timestamps (which YAML resolves implicitly).
_SPEC_SCALAR_TAGS = frozenset(_CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "merge"))
_SPEC_COLLECTION_TAGS = frozenset((_CORE + "map", _CORE + "seq"))
#: What constructing a malformed scalar raises inside PyYAML (``!!int abc``, ``!!timestamp 2024-13-45``, ...).
_CONSTRUCT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


class NodeSpan(NamedTuple):
    """Where one node of a document is (0-based, as PyYAML marks are). A tuple: one is made per node."""

    start_line: int
    start_column: int
    start_index: int
    end_line: int
    end_column: int
    end_index: int
    style: str | None = None  # scalar style: None (plain), '|', '>', '"', "'"; COLLECTION for the rest
    key_line: int | None = None  # line of the mapping key, for mapping values
    key_column: int = 0


@dataclass
class Document:
    """One YAML document (or a whole JSON file): its data and where each path is."""

    file: str
    text: str
    data: Any
    nodes: dict[PathKey, NodeSpan] = field(default_factory=dict)


def _mark_of(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Constructs plain data from a composed node, recording every node's span on the way.

    ``strict_keys`` (spec loading): keys must be plain scalars and appear once per mapping, and boolean and
    float keys read as their lower-case text. Otherwise (lint, which must read any file) a key is its text.
    """

    def __init__(self, document: Document, loader: yaml.SafeLoader, *, strict_keys: bool) -> None:
        self.document = document
        self.loader = loader
        self.strict_keys = strict_keys
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: PathKey, key: yaml.Node | None = None) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._error(node, f"more than {MAX_NODES:,} YAML nodes (alias expansion?)")
        start, end = node.start_mark, node.end_mark
        style = (node.style or None) if isinstance(node, yaml.ScalarNode) else COLLECTION
        key_line = key.start_mark.line if key is not None else None
        key_column = key.start_mark.column if key is not None else 0
        self.document.nodes[path] = NodeSpan(
            start.line, start.column, start.index, end.line, end.column, end.index, style, key_line, key_column
        )
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return self._scalar(node)
        if self.strict_keys and node.tag not in _SPEC_COLLECTION_TAGS:
            raise self._error(node, f"the tag {_short(node.tag)} is not allowed in a spec")
        if id(node) in self.active:  # a recursive alias: stop here
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                self.loader.flatten_mapping(node)
                out: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    name = self._strict_key(key_node, path, out) if self.strict_keys else self._key(key_node)
                    out[name] = self.build(value_node, (*path, name), key_node)
                return out
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _error(self, node: yaml.Node, message: str) -> YamlSourceError:
        return YamlSourceError(self.document.file, *_mark_of(node), message)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        """The scalar as its tag constructs it; a value the tag cannot construct is a located error."""
        if self.strict_keys and node.tag not in _SPEC_SCALAR_TAGS:
            raise self._error(node, f"the tag {_short(node.tag)} is not allowed in a spec")
        try:
            return self.loader.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS:
            value = node.value if len(node.value) <= 40 else node.value[:40] + "…"
            raise self._error(node, f"{value!r} is not a valid {_short(node.tag)} value") from None

    def _strict_key(self, node: yaml.Node, path: PathKey, siblings: dict[Any, Any]) -> str | int:
        file = self.document.file
        if not isinstance(node, yaml.ScalarNode):
            raise SpecError(
                [Problem(Location(file, *_mark_of(node)), dotted(path), "mapping keys must be plain scalars")]
            )
        key = node.value if node.tag == _STR else self._scalar(node)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise SpecError(
                [Problem(Location(file, *_mark_of(node)), dotted(path), "mapping keys must be plain scalars")]
            )
        if isinstance(key, bool | float):
            key = str(key).lower()
        assert isinstance(key, str | int)
        if key in siblings:
            message = f"duplicate key {key!r}; each key may appear once in a mapping"
            raise SpecError([Problem(Location(file, *_mark_of(node)), dotted((*path, key)), message)])
        return key

    def _key(self, node: yaml.Node) -> str | int:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return str(node.value)
            value = self._scalar(node)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return value
            return str(node.value)
        return f"<{node.tag.rsplit(':', 1)[-1]} key>"


def build(node: yaml.Node, document: Document, loader: yaml.SafeLoader, *, strict_keys: bool = False) -> Any:
    """The data of ``node`` (composed by ``loader``), recording each node's span in ``document.nodes``.

    Refuses (:class:`YamlSourceError`) a document that would expand past the bounds, before expanding it.
    """
    check_expansion(node, document.file)
    return _Builder(document, loader, strict_keys=strict_keys).build(node, ())


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def dotted(path: PathKey) -> str:
    """``("alerts", 2, "expr")`` → ``alerts[2].expr``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class Positions:
    """Where each path of a loaded spec starts (its value, or its key)."""

    def __init__(self, document: Document) -> None:
        self.file = document.file
        self.nodes = document.nodes

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """The closest known location for ``path``: its key or value, else its nearest ancestor's."""
        probe = tuple(path)
        while probe:
            node = self.nodes.get(probe)
            if node is not None:
                if key and node.key_line is not None:
                    return Location(self.file, node.key_line + 1, node.key_column + 1)
                return Location(self.file, node.start_line + 1, node.start_column + 1)
            probe = probe[:-1]
        root = self.nodes.get(())
        if root is None:
            return Location(self.file, 1, 1)
        return Location(self.file, root.start_line + 1, root.start_column + 1)


def load_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document (a spec), returning the data and the positions of every path in it."""
    loader: yaml.SafeLoader | None = None
    try:
        check_text(text, file)
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(Location(file, 1, 1), "", "the file is empty; expected a jobpulse spec")])
        document = Document(file, text, None)
        document.data = build(node, document, loader, strict_keys=True)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(Location(file, line, col), "", f"invalid YAML: {reason}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        reason = f"character U+{ord(char):04X} is not allowed in YAML"
        raise SpecError([Problem(Location(file, line, column), "", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - other YAML errors carry no position
        raise SpecError([Problem(Location(file, 1, 1), "", f"invalid YAML: {exc}")]) from None
    except YamlSourceError as exc:
        raise SpecError([Problem(Location(file, exc.line, exc.column), "", exc.message)]) from None
    except RecursionError:
        raise SpecError([Problem(Location(file, 1, 1), "", "invalid YAML: nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return document.data, Positions(document)
