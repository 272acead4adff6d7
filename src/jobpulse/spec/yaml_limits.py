"""Bounds on what a YAML file may cost to read: size, nesting, aliases and nodes — checked before expanding.

YAML lets a few hundred bytes describe billions of nodes (each level of anchors repeated by aliases multiplies
the one below: the "billion laughs"), and lets a file nest deeper than any recursive reader can follow. The spec
loader and lint refuse such input with ``file:line:column`` before doing the expensive part:

1. :func:`check_text` — the text is at most :data:`MAX_BYTES`; its parse events (read by libyaml when
   installed) nest at most :data:`MAX_DEPTH` levels, hold at most :data:`MAX_ALIASES` aliases and at most
   :data:`MAX_NODES` nodes. Nothing is composed yet, so this costs a scan of the text.
2. :func:`check_expansion` — on the composed document (where an alias is the anchored node itself, shared),
   the size and depth of the data it expands to, aliases and merge keys followed, computed once per node.

The largest and deepest YAML or JSON file in the repository (examples, golden files, vendored CRDs and
dashboards) has 2,796 nodes and nests 21 levels: the bounds leave a wide margin for real files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from jobpulse.spec.errors import YamlSourceError

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "check_expansion", "check_text", "read_limited"]

#: A spec (or a file given to lint) larger than this is refused: 4 MiB.
MAX_BYTES = 4 * 1024 * 1024
#: Collections nested deeper than this (aliases followed) are refused.
MAX_DEPTH = 100
#: More alias references than this are refused.
MAX_ALIASES = 10_000
#: A document that has, or expands to, more nodes than this is refused.
MAX_NODES = 100_000

_EventLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MIB = 1024 * 1024


def _at(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _too_large(file: str, text: str, size: str) -> YamlSourceError:
    line, column = _at(text, min(len(text), MAX_BYTES))
    return YamlSourceError(
        file, line, column, f"the file is larger than {MAX_BYTES // _MIB} MiB ({size}); nothing is read past here"
    )


def read_limited(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of ``path``, refusing (located) a file over :data:`MAX_BYTES` without reading it whole.

    ``OSError`` and ``UnicodeDecodeError`` propagate, as from ``Path.read_text``.
    """
    with Path(path).open("rb") as handle:
        data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            handle.seek(0, 2)
            total = handle.tell()
            size = f"{total / _MIB:,.1f} MiB" if total > len(data) else "more"
            raise _too_large(str(path), data[:MAX_BYTES].decode(encoding, "replace"), size)
    return data.decode(encoding)


def check_text(text: str, file: str) -> None:
    """Refuse (raise :class:`YamlSourceError`) text over the size bound, or whose events nest, alias or count
    past the bounds. Syntax errors are left to the parser that composes the text, which locates them."""
    if len(text) > MAX_BYTES or (len(text) * 4 > MAX_BYTES and len(text.encode("utf-8", "replace")) > MAX_BYTES):
        raise _too_large(file, text, f"{len(text.encode('utf-8', 'replace')) / _MIB:,.1f} MiB")
    loader = _EventLoader(text)
    next_event: Callable[[], yaml.Event] = loader.get_event  # untyped in types-PyYAML
    depth = nodes = aliases = 0
    try:
        while loader.check_event():
            event = next_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                nodes += 1
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                nodes += 1
                depth += 1
                if depth > MAX_DEPTH:
                    raise _located(file, event, f"nested more than {MAX_DEPTH} levels deep")
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                depth -= 1
            elif kind is yaml.AliasEvent:
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise _located(file, event, f"more than {MAX_ALIASES:,} aliases (*name)")
            if nodes > MAX_NODES:
                raise _located(file, event, f"more than {MAX_NODES:,} nodes")
    except yaml.MarkedYAMLError as exc:
        # libyaml refuses to nest 1,000 levels while it scans ahead, before it emits the events counted above
        if "nesting depth" in str(exc.problem) and exc.problem_mark is not None:
            mark = exc.problem_mark
            raise YamlSourceError(
                file, mark.line + 1, mark.column + 1, f"nested more than {MAX_DEPTH} levels deep"
            ) from None
        return  # the composing parser reports it, with its position
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _located(file: str, event: yaml.Event | yaml.Node, message: str) -> YamlSourceError:
    mark = event.start_mark
    if mark is None:  # pragma: no cover - PyYAML and libyaml mark every event and node
        return YamlSourceError(file, 1, 1, message)
    return YamlSourceError(file, mark.line + 1, mark.column + 1, message)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse a composed document whose data — aliases and merge keys followed — would have more than
    :data:`MAX_NODES` nodes or nest deeper than :data:`MAX_DEPTH` levels.

    Each composed node is measured once (an alias is the anchored node itself), without recursion, so the
    cost is that of the composed document however large the expansion would be. A recursive alias counts as
    one node: the builder stops there too.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    active = {id(root)}
    stack: list[tuple[yaml.Node, list[yaml.Node], int]] = [(root, _children(root), 0)]
    while stack:
        node, children, i = stack[-1]
        if i < len(children):
            stack[-1] = (node, children, i + 1)
            child = children[i]
            key = id(child)
            if key not in size and key not in active:
                active.add(key)
                stack.append((child, _children(child), 0))
            continue
        stack.pop()
        active.discard(id(node))
        total = 1
        deepest = 0
        for child in children:
            total += size.get(id(child), 1)
            deepest = max(deepest, height.get(id(child), 0))
        if total > MAX_NODES:
            raise _located(
                file, node, f"YAML aliases expand this value to more than {MAX_NODES:,} nodes (an alias bomb?)"
            )
        levels = 0 if isinstance(node, yaml.ScalarNode) else deepest + 1
        if levels > MAX_DEPTH:
            raise _located(file, node, f"nested more than {MAX_DEPTH} levels deep (aliases followed)")
        size[id(node)] = total
        height[id(node)] = levels
