"""Route templates for the `route` label, resolved before the app runs.

The in-flight gauge needs the route when the request starts, before Starlette's router has
run, so the app's route tree (mounted sub-apps included) is flattened once into full
templates (`/v1` + `/items/{item_id}`) and matched with one combined regex per HTTP method.
Static paths are a dict lookup. The order and the full/partial (405) semantics follow
Starlette's router; a path that matches nothing resolves to the fixed `UNMATCHED`, so a
scan of random URLs cannot create series.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import Host, Mount, WebSocketRoute, compile_path

UNMATCHED = "<unmatched>"

_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


@dataclass(frozen=True, slots=True)
class _Entry:
    template: str | None  # None: the catch-all of a mount whose own routes did not match
    regex: str  # un-anchored, no named groups
    methods: frozenset[str] | None  # None: any method


def _regex_body(template: str) -> str:
    """Starlette's own regex for a template, unanchored and without named groups."""
    pattern = compile_path(template)[0].pattern
    return _NAMED_GROUP.sub("(?:", pattern[1:-1])


def _expand(routes: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(route, view) pairs: `route` for its type, `view` for its effective path, methods
    and sub-routes. FastAPI >= 0.16x keeps included routers lazy (`_IncludedRouter`);
    its `iter_route_contexts` yields their routes with the include prefix applied."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return [(r, r) for r in routes]
    return [(ctx.original_route, ctx) for ctx in iter_route_contexts(list(routes))]


def _flatten(routes: Sequence[Any], prefix: str, prefix_re: str, out: list[_Entry]) -> None:
    for route, view in _expand(routes):
        path = getattr(view, "path", None)
        if isinstance(route, Mount):
            mount_path = (path or "").rstrip("/")
            full = prefix + mount_path
            regex = prefix_re + (_regex_body(mount_path) if mount_path else "")
            inner = getattr(view, "routes", None) or []
            tail = _regex_body("/{path:path}")
            if inner:
                _flatten(inner, full, regex, out)
                # Starlette enters the mount for any path under it; whatever its routes do
                # not match is a 404 inside it, not a match for a later top-level route.
                out.append(_Entry(None, regex + tail, None))
            else:  # an opaque ASGI app (static files, another framework): one template
                out.append(_Entry(full + "/{path:path}", regex + tail, None))
        elif isinstance(route, Host):
            _flatten(getattr(view, "routes", None) or [], prefix, prefix_re, out)
        elif isinstance(route, WebSocketRoute):
            continue
        elif isinstance(path, str) and path.startswith("/"):
            methods = getattr(view, "methods", None)
            out.append(
                _Entry(
                    prefix + path,
                    prefix_re + _regex_body(path),
                    frozenset(methods) if methods else None,
                )
            )


class _Table:
    """One combined regex over entries, plus a dict for static paths."""

    __slots__ = ("static", "regex", "entries")

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.static: dict[str, _Entry] = {}
        dynamic: list[re.Pattern[str]] = []
        for entry in entries:
            compiled = re.compile(entry.regex)
            template = entry.template
            is_static = template is not None and "{" not in template
            # A static path goes to the dict only when no earlier pattern could claim it,
            # so first-match order is kept.
            if is_static and template not in self.static:
                if not any(p.fullmatch(template) for p in dynamic):
                    self.static[template] = entry
            if not is_static:
                dynamic.append(compiled)
        alternatives = "|".join(f"(?P<r{i}>{e.regex})" for i, e in enumerate(entries))
        self.regex = re.compile(alternatives) if entries else None

    def lookup(self, path: str) -> _Entry | None:
        entry = self.static.get(path)
        if entry is not None:
            return entry
        if self.regex is None:
            return None
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        name = m.lastgroup
        if name is None or name[0] != "r" or not name[1:].isdigit():
            # a custom convertor brought its own groups: find ours
            name = next(k for k, v in m.groupdict().items() if v is not None)
        return self.entries[int(name[1:])]


class RouteResolver:
    """Maps (method, route path) to the route template; rebuilds when routes are added.

    Recent answers are memoised (bounded: a scan of random paths only churns the memo).
    """

    CACHE_SIZE = 2048

    def __init__(self, routes: Callable[[], Sequence[Any]] | None) -> None:
        self._routes = routes
        self._build()

    def _build(self) -> None:
        # app.routes is the router's own list, so its length tells when routes are added
        self._route_list: Sequence[Any] = self._routes() if self._routes is not None else ()
        self._count = len(self._route_list)
        entries: list[_Entry] = []
        _flatten(self._route_list, "", "", entries)
        self._entries = entries
        self._known_methods = frozenset(m for e in entries if e.methods for m in e.methods)
        self._tables: dict[str, _Table] = {}
        self._any_method = _Table([e for e in entries if e.methods is None])
        self._partial = _Table(entries)
        self._cache: dict[tuple[str, str], str] = {}

    def _table(self, method: str) -> _Table:
        if method not in self._known_methods:
            return self._any_method  # unknown methods cannot make new tables
        table = self._tables[method] = _Table(
            [e for e in self._entries if e.methods is None or method in e.methods]
        )
        return table

    def resolve(self, method: str, path: str) -> str:
        if len(self._route_list) != self._count:
            self._build()
        key = (method, path)
        template = self._cache.get(key)
        if template is None:
            template = self._resolve(method, path)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = template
        return template

    def _resolve(self, method: str, path: str) -> str:
        table = self._tables.get(method) or self._table(method)
        entry = table.lookup(path)
        if entry is not None and entry.template is not None:
            return entry.template
        # No route takes this method here: Starlette answers 405 from the first route
        # whose path matches, whatever its methods.
        entry = self._partial.lookup(path)
        if entry is not None and entry.template is not None:
            return entry.template
        return UNMATCHED


def route_path(scope: dict[str, Any]) -> str:
    """The path the app's router sees: the request path less the root_path prefix."""
    path: str = scope["path"]
    root = scope.get("root_path")
    if root and path.startswith(root):
        if len(path) == len(root):
            return ""
        if path[len(root)] == "/":
            return path[len(root) :]
    return path
