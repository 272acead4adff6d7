"""Pydantic's validation errors as problems located at ``file:line:column``, with a hint for misspelt keys."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from jobpulse.spec import wire
from jobpulse.spec.errors import Problem
from jobpulse.spec.yamlpos import PathKey, Positions, dotted


def located_problems(exc: ValidationError, data: Any, positions: Positions) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[PathKey, str]] = set()
    errors = exc.errors(include_url=False)
    # a misspelt key shows up twice (unknown 'hlep', missing 'help'): report only the unknown key
    typos: set[PathKey] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            path = _data_path(err["loc"], data)
            for guess in difflib.get_close_matches(str(path[-1]), _field_names(path[:-1]), n=1):
                typos.add((*path[:-1], guess))
    for err in errors:
        path = _data_path(err["loc"], data)
        kind = err["type"]
        if kind == "missing" and path in typos:
            continue
        if kind == "extra_forbidden":
            key = path[-1] if path else ""
            message = f"unknown key {key!r}; expected {_expected_keys(path[:-1], key)}"
            location = positions.locate(path, key=True)
        elif kind == "missing":
            message = f"missing required key {err['loc'][-1]!r}"
            location = positions.locate(path[:-1] if path and path[-1] == err["loc"][-1] else path)
        else:
            message = _message(err)
            location = positions.locate(path)
        marker = (path, message)
        if marker in seen:
            continue
        seen.add(marker)
        problems.append(Problem(location, dotted(path), message))
    return sorted(problems, key=lambda p: (p.location.line, p.location.column))


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Keep only the parts of a pydantic error location that exist in the data (drops union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(("function-", "list[")):
            # a key that is not in the data: missing or extra → report at it, under its parent
            path.append(part)
            break
    return tuple(path)


def _model_at(path: PathKey) -> type[BaseModel] | None:
    current: Any = wire.SpecV1
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = current.model_fields
        name = next((n for n, f in fields.items() if (f.alias or n) == part), None)
        if name is None:
            return None
        current = _inner_model(fields[name].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def _field_names(parent: PathKey) -> list[str]:
    cls = _model_at(parent)
    return [] if cls is None else [f.alias or n for n, f in cls.model_fields.items()]


def _expected_keys(parent: PathKey, key: str | int) -> str:
    names = _field_names(parent)
    if not names:
        return "no such key here"
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return "one of " + ", ".join(names) + hint


def _message(err: Any) -> str:
    msg: str = err["msg"]
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Input should be "):
        msg = "expected " + msg.removeprefix("Input should be ")
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f", got {err['input']!r}"
    return msg
