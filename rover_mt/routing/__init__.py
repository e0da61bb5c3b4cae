"""Routing: templates, the route table and matching (SPEC section 3).

Pure Python, no I/O, no Lua, no threads: the server builds one :class:`Router`
from :class:`RouteSpec` entries and calls :meth:`Router.match` per request.

>>> router = Router([RouteSpec("/users/{id}", frozenset({"GET"}))])
>>> m = router.match("GET", "/users/7")
>>> m.kind, router.template_of(m.route_index), m.params
(<MatchKind.FOUND: 'found'>, '/users/{id}', {'id': '7'})
"""

from .match import Match, MatchKind, allow_header
from .router import Router
from .spec import ROUTE_METHODS, RouteConflict, RouteSpec
from .template import Segment, SegmentKind, parse_template

__all__ = [
    "ROUTE_METHODS",
    "Match",
    "MatchKind",
    "RouteConflict",
    "RouteSpec",
    "Router",
    "Segment",
    "SegmentKind",
    "allow_header",
    "parse_template",
]
