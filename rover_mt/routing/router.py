"""The router: which route, if any, handles a (method, raw path)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .decode import split_path
from .match import Match, MatchKind
from .spec import ROUTE_METHODS, RouteConflict, RouteSpec
from .template import SegmentKind, parse_template
from .trie import PathEntry, Resolution, TrieNode

_NOT_FOUND_INDEX = -1
# What resolve() returns for a path no route matches.
_NOT_FOUND: tuple[Resolution, None, Sequence[str]] = (
    (MatchKind.NOT_FOUND, _NOT_FOUND_INDEX, "", False, ""), None, ())


class Router:
    """An immutable route table that matches requests (SPEC section 3, "Matching").

    Building it validates the whole table and raises :class:`RouteConflict`
    naming the template(s) at fault. ``routes`` holds the given specs, sorted by
    template then methods, so indexes do not depend on declaration order.

    Matching runs on the I/O thread for every request, so it is kept cheap: a path
    with no ``%`` and only ASCII is first looked up whole in a dict of fully static
    routes; anything else walks a segment trie, trying static, then parameter, then
    catch-all children at each depth and backtracking when a branch dead-ends.
    The method is resolved only after the path: when the best path match lacks the
    method the answer is 405, even if a lower-precedence route has the method.
    """

    __slots__ = ("routes", "_root", "_static", "_entries")

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        specs = list(routes)
        for spec in specs:
            _check_methods(spec)
        specs.sort(key=lambda spec: (spec.template, sorted(spec.methods), spec.source))
        self.routes: tuple[RouteSpec, ...] = tuple(specs)
        self._root = TrieNode()
        self._static: dict[str, PathEntry] = {}
        self._entries: list[PathEntry] = []
        for template, indexes in _group_by_template(self.routes).items():
            segments = parse_template(template)
            entry = PathEntry(
                template,
                tuple(s.value for s in segments if s.kind is not SegmentKind.STATIC),
                _index_by_method(self.routes, indexes),
            )
            self._root.insert(segments, entry)
            self._entries.append(entry)
            if all(s.kind is SegmentKind.STATIC for s in segments):
                self._static[template] = entry

    def template_of(self, index: int) -> str:
        """The template of ``routes[index]`` (for ``ctx.route`` and metrics labels)."""
        return self.routes[index].template

    def match(self, method: str, raw_path: str) -> Match:
        """Route one request.

        ``raw_path`` is the path as received (latin-1 text of the bytes), without
        the query string and not decoded. ``method`` is the token as received.
        """
        resolution, entry, values = self.resolve(method, raw_path)
        kind, index, run_method, head_only, allow = resolution
        params = dict(zip(entry.param_names, values)) if entry is not None else {}
        return Match(kind, index, params, run_method, head_only, allow)

    def resolve(self, method: str, raw_path: str) -> tuple[Resolution, PathEntry | None, Sequence[str]]:
        """:meth:`match` without building a :class:`Match`, for the server's hot path.

        Returns the precomputed ``(kind, route index, run_method, head_only, allow)``
        for the method on the matched path, the matched :class:`PathEntry` (None for
        NOT_FOUND) and the parameter values in template order. All three may be
        shared between calls: read them, never change them. :meth:`match` is built
        on this, so both always agree.
        """
        if raw_path.isascii() and "%" not in raw_path:
            entry = self._static.get(raw_path)
            if entry is not None:
                return entry.by_method.get(method, entry.not_allowed), entry, ()
            if not raw_path.startswith("/"):
                return _NOT_FOUND
            segments: list[str | None] = raw_path[1:].split("/") if len(raw_path) > 1 else []
        elif raw_path.startswith("/"):
            segments = split_path(raw_path)
        else:
            return _NOT_FOUND
        values: list[str] = []
        entry = self._walk(self._root, segments, 0, values)
        if entry is None:
            return _NOT_FOUND
        return entry.by_method.get(method, entry.not_allowed), entry, values

    def _walk(self, node: TrieNode, segments: list[str | None], depth: int,
              values: list[str]) -> PathEntry | None:
        """Depth-first search in precedence order; ``values`` collects bound params."""
        if depth == len(segments):
            return node.entry
        segment = segments[depth]
        if not segment:
            # "" (from "//" or a trailing "/") and None (undecodable) match nothing,
            # not even a catch-all, which needs every remaining segment valid.
            return None
        child = node.static.get(segment)
        if child is not None:
            found = self._walk(child, segments, depth + 1, values)
            if found is not None:
                return found
        if node.param is not None:
            values.append(segment)
            found = self._walk(node.param, segments, depth + 1, values)
            if found is not None:
                return found
            values.pop()
        if node.catch_all is not None:
            rest = segments[depth:]
            if all(rest):
                values.append("/".join(rest))  # type: ignore[arg-type]  # all() ruled out None
                return node.catch_all
        return None


def _check_methods(spec: RouteSpec) -> None:
    if not spec.methods:
        raise RouteConflict(f"route {spec.describe()} declares no methods")
    unknown = sorted(m for m in spec.methods if m not in ROUTE_METHODS)
    if unknown:
        raise RouteConflict(
            f"route {spec.describe()} declares unknown method(s) {', '.join(unknown)}; "
            f"known (upper case): {', '.join(sorted(ROUTE_METHODS))}"
        )


def _group_by_template(routes: tuple[RouteSpec, ...]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, spec in enumerate(routes):
        groups.setdefault(spec.template, []).append(index)
    return groups


def _index_by_method(routes: tuple[RouteSpec, ...], indexes: list[int]) -> dict[str, int]:
    """Map each method of one template to its spec; overlapping declarations conflict."""
    by_method: dict[str, int] = {}
    for index in indexes:
        for method in routes[index].methods:
            if method in by_method:
                first = routes[by_method[method]]
                raise RouteConflict(
                    f"route {first.template!r} declares {method} twice "
                    f"({first.describe()} and {routes[index].describe()})"
                )
            by_method[method] = index
    return by_method
