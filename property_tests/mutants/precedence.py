"""Broken routers that get precedence wrong. Each overrides one step of Router."""

from __future__ import annotations

from rover_mt.routing import Match, MatchKind, Router, RouteSpec
from rover_mt.routing.router import _not_found
from rover_mt.routing.trie import PathEntry, TrieNode


class ParamBeforeStatic(Router):
    """Tries the parameter child before the static one (static and param swapped)."""

    def _walk(self, node: TrieNode, segments: list[str | None], depth: int,
              values: list[str]) -> PathEntry | None:
        if depth == len(segments):
            return node.entry
        segment = segments[depth]
        if not segment:
            return None
        if node.param is not None:
            values.append(segment)
            found = self._walk(node.param, segments, depth + 1, values)
            if found is not None:
                return found
            values.pop()
        child = node.static.get(segment)
        if child is not None:
            found = self._walk(child, segments, depth + 1, values)
            if found is not None:
                return found
        if node.catch_all is not None and all(segments[depth:]):
            values.append("/".join(segments[depth:]))  # type: ignore[arg-type]
            return node.catch_all
        return None

    def __init__(self, routes: list[RouteSpec]) -> None:
        super().__init__(routes)
        self._static = {}     # no fast path, so the swapped order shows everywhere


class NoBacktracking(Router):
    """Commits to the static child when one exists, even if it dead-ends below."""

    def _walk(self, node: TrieNode, segments: list[str | None], depth: int,
              values: list[str]) -> PathEntry | None:
        if depth == len(segments):
            return node.entry
        segment = segments[depth]
        if not segment:
            return None
        child = node.static.get(segment)
        if child is not None:
            return self._walk(child, segments, depth + 1, values)
        return super()._walk(node, segments, depth, values)


class CatchAllFirst(Router):
    """Lets a catch-all win over static and parameter children."""

    def _walk(self, node: TrieNode, segments: list[str | None], depth: int,
              values: list[str]) -> PathEntry | None:
        if depth < len(segments) and node.catch_all is not None and all(segments[depth:]):
            values.append("/".join(segments[depth:]))  # type: ignore[arg-type]
            return node.catch_all
        return super()._walk(node, segments, depth, values)


class FirstDeclaredWins(Router):
    """Ignores precedence: the first declared template that matches wins (order dependent)."""

    def __init__(self, routes: list[RouteSpec]) -> None:
        super().__init__(routes)
        order = list(dict.fromkeys(spec.template for spec in routes))
        # One single-template production router per template, asked in declaration order.
        self._in_order = [Router(s for s in self.routes if s.template == t) for t in order]

    def match(self, method: str, raw_path: str) -> Match:
        for single in self._in_order:
            found = single.match(method, raw_path)
            if found.kind is not MatchKind.NOT_FOUND:
                spec = single.routes[found.route_index]
                index = self.routes.index(spec)
                return Match(found.kind, index, found.params, found.run_method,
                             found.head_only, found.allow)
        return _not_found()

