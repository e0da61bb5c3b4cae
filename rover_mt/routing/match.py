"""The result of routing one request."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class MatchKind(enum.Enum):
    """How a request relates to the route table (the answer follows from the kind)."""

    #: A route handles this path and method: run ``Match.run_method``.
    FOUND = "found"
    #: No route has this path: 404.
    NOT_FOUND = "not_found"
    #: The path has a route but not for this method: 405 with ``Allow``.
    METHOD_NOT_ALLOWED = "method_not_allowed"
    #: ``OPTIONS`` on a path with no ``options`` handler: 204 with ``Allow``.
    AUTO_OPTIONS = "auto_options"


@dataclass(frozen=True, slots=True)
class Match:
    """What the router decided for one ``(method, raw_path)``.

    - ``route_index``: index into ``Router.routes`` of the route that handles the
      request (for ``FOUND``) or of the matched path's first route (for
      ``METHOD_NOT_ALLOWED`` / ``AUTO_OPTIONS``, so ``Router.template_of`` works);
      ``-1`` for ``NOT_FOUND``.
    - ``params``: decoded path parameters of the matched template (also filled for
      405 and auto-OPTIONS); ``{}`` for static routes and ``NOT_FOUND``. A fresh dict
      per call, the caller may keep or change it.
    - ``run_method``: the handler to run for ``FOUND`` (the request method, or
      ``"GET"`` when ``HEAD`` falls back to ``get``); ``""`` otherwise.
    - ``head_only``: ``True`` when HEAD fell back to GET (send headers, no body).
    - ``allow``: the ``Allow`` header value for 405 and auto-OPTIONS, ``""`` otherwise.
    """

    kind: MatchKind
    route_index: int
    params: dict[str, str]
    run_method: str
    head_only: bool
    allow: str


def allow_header(methods: Iterable[str]) -> str:
    """``Allow`` value for a path declaring ``methods``: plus HEAD if GET, plus OPTIONS; sorted."""
    allowed = set(methods)
    if "GET" in allowed:
        allowed.add("HEAD")
    allowed.add("OPTIONS")
    return ", ".join(sorted(allowed))
