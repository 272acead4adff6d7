"""YAML loading that remembers where every key and value came from.

PyYAML's composed node tree carries marks; we construct plain Python data from it and keep a map from
each data path (a tuple of keys and indexes) to its 1-based line and column, so that any later
validation error can be reported as ``file:line:column``.
"""

from __future__ import annotations

from typing import Any

import yaml

from jobpulse.spec.errors import Location, Problem, SpecError

PathKey = tuple[str | int, ...]


class Positions:
    """Where each path of a loaded document starts (value) and where its key starts."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[PathKey, Location] = {}
        self.keys: dict[PathKey, Location] = {}

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """The closest known location for ``path``: its key or value, else its nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Location(self.file, 1, 1))


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader
        self.positions = Positions(file)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.positions.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise SpecError(
                        [Problem(_loc(self.file, key_node), _dotted(path), "mapping keys must be plain scalars")]
                    )
                if isinstance(key, bool | float):
                    key = str(key).lower()
                if key in out:
                    raise SpecError(
                        [
                            Problem(
                                _loc(self.file, key_node),
                                _dotted((*path, key)),
                                f"duplicate key {key!r}; each key may appear once in a mapping",
                            )
                        ]
                    )
                child = (*path, key)
                self.positions.keys[child] = _loc(self.file, key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def dotted(path: PathKey) -> str:
    """``("alerts", 2, "expr")`` → ``alerts[2].expr``."""
    return _dotted(path)


def load_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document, returning the data and the positions of every path in it."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(Location(file, 1, 1), "", "the file is empty; expected a jobpulse spec")])
        builder = _Builder(file, loader)
        data = builder.build(node, ())
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
    finally:
        if loader is not None:
            loader.dispose()
    return data, builder.positions
