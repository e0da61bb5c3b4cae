"""The segment trie behind the router, and the conflict checks done while building it.

Each node holds static children by decoded text, at most one parameter child and at
most one catch-all. Parameter children are shared whatever the parameter is called:
values are collected by position during the walk and named by the matched
``PathEntry.param_names``, so ``/users/{id}`` and ``/users/{uid}/posts/{pid}`` live
together. Only two templates that end at the same place (same shape, different
names, e.g. ``/users/{id}`` and ``/users/{name}``) conflict: one path would match both.
"""

from __future__ import annotations

from .match import MatchKind, allow_header
from .spec import RouteConflict
from .template import Segment, SegmentKind

# How a method resolves on a matched path, precomputed per path so that matching
# does a single dict lookup: (kind, route index, run_method, head_only, allow).
Resolution = tuple[MatchKind, int, str, bool, str]


class PathEntry:
    """Everything the router needs once a template has matched the path."""

    __slots__ = ("template", "param_names", "by_method", "not_allowed")

    def __init__(self, template: str, param_names: tuple[str, ...],
                 index_by_method: dict[str, int]) -> None:
        self.template = template
        self.param_names = param_names
        first_index = min(index_by_method.values())
        allow = allow_header(index_by_method)
        by_method: dict[str, Resolution] = {
            method: (MatchKind.FOUND, index, method, False, "")
            for method, index in index_by_method.items()
        }
        if "HEAD" not in by_method and "GET" in index_by_method:
            by_method["HEAD"] = (MatchKind.FOUND, index_by_method["GET"], "GET", True, "")
        if "OPTIONS" not in by_method:
            by_method["OPTIONS"] = (MatchKind.AUTO_OPTIONS, first_index, "", False, allow)
        self.by_method = by_method
        # Any other token, known or not (TRACE, PURGE, lower-case "get"), is a 405.
        self.not_allowed: Resolution = (
            MatchKind.METHOD_NOT_ALLOWED, first_index, "", False, allow
        )


class TrieNode:
    """One depth of the trie: where each kind of segment leads from here."""

    __slots__ = ("static", "param", "catch_all", "entry")

    def __init__(self) -> None:
        self.static: dict[str, TrieNode] = {}
        self.param: TrieNode | None = None
        self.catch_all: PathEntry | None = None
        self.entry: PathEntry | None = None

    def insert(self, segments: list[Segment], entry: PathEntry) -> None:
        """Add ``entry`` under ``segments``.

        Raises RouteConflict when another template already ends at the same place:
        the router groups specs by template first, so that can only be a template
        of the same shape whose parameters are named differently.
        """
        node = self
        for segment in segments:
            if segment.kind is SegmentKind.STATIC:
                child = node.static.get(segment.value)
                if child is None:
                    child = node.static[segment.value] = TrieNode()
                node = child
            elif segment.kind is SegmentKind.PARAM:
                if node.param is None:
                    node.param = TrieNode()
                node = node.param
            else:
                # parse_template guarantees the catch-all is last.
                if node.catch_all is not None:
                    raise _same_shape(node.catch_all.template, entry.template)
                node.catch_all = entry
                return
        if node.entry is not None:
            raise _same_shape(node.entry.template, entry.template)
        node.entry = entry


def _same_shape(first: str, second: str) -> RouteConflict:
    return RouteConflict(
        f"routes {first!r} and {second!r} differ only by parameter names, "
        "so every path matching one matches the other; use one template"
    )
