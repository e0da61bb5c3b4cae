"""The segment trie behind the router, and the conflict checks done while building it.

Each node holds static children by decoded text, at most one parameter child and at
most one catch-all. Allowing only one parameter name per node is what makes
``/users/{id}`` and ``/users/{name}/posts`` a load error: otherwise one path could
bind its segment under two names depending on the rest of the path.
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
    """One depth of the trie. ``*_owner`` remember which template introduced a name."""

    __slots__ = ("static", "param", "param_name", "param_owner",
                 "catch_all", "catch_all_name", "catch_all_owner", "entry")

    def __init__(self) -> None:
        self.static: dict[str, TrieNode] = {}
        self.param: TrieNode | None = None
        self.param_name = ""
        self.param_owner = ""
        self.catch_all: PathEntry | None = None
        self.catch_all_name = ""
        self.catch_all_owner = ""
        self.entry: PathEntry | None = None

    def insert(self, segments: list[Segment], entry: PathEntry) -> None:
        """Add ``entry`` under ``segments``; raise RouteConflict on a name clash."""
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
                    node.param_name = segment.value
                    node.param_owner = entry.template
                elif node.param_name != segment.value:
                    raise _name_clash(node.param_owner, entry.template,
                                      node.param_name, segment.value)
                node = node.param
            else:
                # parse_template guarantees the catch-all is last.
                if node.catch_all is not None and node.catch_all_name != segment.value:
                    raise _name_clash(node.catch_all_owner, entry.template,
                                      node.catch_all_name, segment.value)
                node.catch_all = entry
                node.catch_all_name = segment.value
                node.catch_all_owner = entry.template
                return
        node.entry = entry


def _name_clash(first: str, second: str, first_name: str, second_name: str) -> RouteConflict:
    return RouteConflict(
        f"routes {first!r} and {second!r} use different parameter names "
        f"({first_name!r} and {second_name!r}) at the same position; "
        "use one name for both"
    )
