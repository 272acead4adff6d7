"""The ``route`` label: a route *template*, built from the templates of the routes and mounts the request went
through — never from the request's path.

Starlette's router (and FastAPI's) leaves the route it matched in ``scope["route"]``; inside a mount that is the
innermost route, and the mounts' part of the URL is only in ``scope["root_path"]`` as the client sent it. A mount
with a path parameter (``Mount("/t/{tenant}", routes=[...])``) would so put a client-chosen segment — CR/LF
included — into the label and use up the route budget. Instead the app's route tree is indexed once (mounts,
sub-applications, hosts, followed through wrapping middleware by their ``app``), each route with the chain of
mounts that leads to it, and the label is the chain's templates followed by the route's. A route the index does
not know (added later: the tree is indexed again, at most every few seconds) inside a mount with a path parameter
is recorded as ``__other__``.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from jobpulse.asgi import Scope
from jobpulse.runtime.labels import OTHER, LabelBudget

__all__ = ["RouteTemplates"]

#: How deep mounts are followed, how many routes are indexed, and how often a miss may index the tree again.
MAX_DEPTH = 16
MAX_INDEXED = 20_000
REINDEX_SECONDS = 5.0
_PARAM = re.compile(r"\{[^{}]*\}")

Chain = tuple[Any, ...]


def _routes_of(obj: Any) -> list[Any]:
    """The routes of an app, a router or a mount, looking through wrapping middleware (``.app``)."""
    for _ in range(MAX_DEPTH):
        routes = getattr(obj, "routes", None)
        if isinstance(routes, list | tuple) and routes:
            return list(routes)
        obj = getattr(obj, "app", None)
        if obj is None:
            break
    return []


def _format(route: Any) -> str:
    fmt = getattr(route, "path_format", None)
    if not isinstance(fmt, str):
        fmt = getattr(route, "path", None)
    return fmt if isinstance(fmt, str) else ""


def _is_mount(route: Any) -> bool:
    return not hasattr(route, "endpoint")


def _mount_prefix(route: Any) -> str:
    """A mount's own template, without the ``/{path}`` Starlette appends to match what follows it."""
    return _format(route).removesuffix("/{path}")


@functools.lru_cache(maxsize=256)
def _prefix_regex(template: str) -> re.Pattern[str]:
    """A pattern for the URL part a chain of mounts matched (to tell apart a router mounted twice)."""
    return re.compile("[^/]+".join(re.escape(part) for part in _PARAM.split(template)))


class RouteTemplates:
    """``template(scope)``: the matched route's full template, bounded by ``max_routes`` distinct templates."""

    def __init__(self, app: Any, *, unmatched: str, max_routes: int) -> None:
        self._app = app
        self.unmatched = unmatched
        self._budget = LabelBudget(max_routes)
        # id(route) -> [(route, chain of mounts, the chain's template)]; the route objects are kept, so ids stay theirs
        self._index: dict[int, list[tuple[Any, Chain, str]]] = {}
        self._indexed_at = -REINDEX_SECONDS
        self._indexed = False
        self._templates: dict[tuple[int, int], str] = {}

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return self.unmatched
        entries = self._index.get(id(route))
        if entries is None or entries[0][0] is not route:
            if not self._reindex():
                return self._unknown(route, scope)
            entries = self._index.get(id(route))
            if entries is None or entries[0][0] is not route:
                return self._unknown(route, scope)
        which = 0
        if len(entries) > 1:  # the same router mounted at several places: the one whose templates match
            which = self._which(entries, scope)
        key = (id(route), which)
        template = self._templates.get(key)
        if template is None:
            _, chain, prefix = entries[which]
            own = _format(route)
            if not own and not chain:
                return self.unmatched
            template = prefix + (_mount_prefix(route) + "/{path}" if _is_mount(route) else own)
            if not self._budget.admit(template):
                return OTHER
            if len(self._templates) < MAX_INDEXED:
                self._templates[key] = template
        return template

    def _which(self, entries: list[tuple[Any, Chain, str]], scope: Scope) -> int:
        matched = _matched_prefix(scope)
        for i, (_, _, prefix) in enumerate(entries):
            if _prefix_regex(prefix).fullmatch(matched):
                return i
        return 0

    def _unknown(self, route: Any, scope: Scope) -> str:
        """A route the index does not know: its own template when no mount with a path parameter is around it."""
        own = _format(route)
        if not own:
            return self.unmatched
        matched = _matched_prefix(scope)
        if matched:
            params = getattr(route, "param_convertors", None) or {}
            if set(scope.get("path_params") or ()) - set(params):
                return OTHER  # a mount's parameter is in `matched`: never a label
        template = matched + (_mount_prefix(route) + "/{path}" if _is_mount(route) else own)
        return template if self._budget.admit(template) else OTHER

    def _reindex(self) -> bool:
        """Index the app's route tree (again); False when it was indexed too recently to try again."""
        now = time.monotonic()
        if self._indexed and now - self._indexed_at < REINDEX_SECONDS:
            return False
        self._indexed, self._indexed_at = True, now
        index: dict[int, list[tuple[Any, Chain, str]]] = {}
        count = 0

        def walk(routes: list[Any], chain: Chain, prefix: str) -> None:
            nonlocal count
            for route in routes:
                if count >= MAX_INDEXED:
                    return
                count += 1
                index.setdefault(id(route), []).append((route, chain, prefix))
                if _is_mount(route) and len(chain) < MAX_DEPTH and all(route is not m for m in chain):
                    inner = _routes_of(route)
                    if inner:
                        walk(inner, (*chain, route), prefix + _mount_prefix(route))

        walk(_routes_of(self._app), (), "")
        self._index = index
        self._templates = {}
        return True


def _matched_prefix(scope: Scope) -> str:
    """The part of the URL the mounts matched, as the client sent it."""
    if "app_root_path" not in scope:
        return ""
    root: str = scope.get("root_path", "")
    return root[len(scope["app_root_path"]) :]
