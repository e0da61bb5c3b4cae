"""Broken routers that get precedence wrong. Each overrides one step of Router."""

from __future__ import annotations

from typing import Any

from rover_mt.routing import MatchKind, Router, RouteSpec
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

    def resolve(self, method: str, raw_path: str) -> Any:
        for single in self._in_order:
            resolution, entry, values = single.resolve(method, raw_path)
            if resolution[0] is not MatchKind.NOT_FOUND:
                index = self.routes.index(single.routes[resolution[1]])
                return (resolution[0], index, *resolution[2:]), entry, values
        return (MatchKind.NOT_FOUND, -1, "", False, ""), None, ()
