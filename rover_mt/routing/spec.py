"""The route declaration the router is built from, and the error for bad tables."""

from __future__ import annotations

from dataclasses import dataclass

#: Methods a route may declare (SPEC section 3: ``get post put patch delete head options``).
ROUTE_METHODS: frozenset[str] = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One declared route: a path template and the methods it handles.

    ``template`` uses ``{name}`` for a parameter and ``{*name}`` for a catch-all,
    e.g. ``"/users/{id}"`` or ``"/files/{*path}"``; ``"/"`` is the root.
    ``methods`` are upper-case names from :data:`ROUTE_METHODS`. ``source`` is a
    human-readable location (``"api.users.p_id"``) used in error messages.

    The same template may be declared by several specs as long as their method
    sets are disjoint; the router treats them as one path with the union of methods.
    """

    template: str
    methods: frozenset[str]
    source: str = ""

    def describe(self) -> str:
        """Name this route for an error message: the template plus its source if known."""
        if self.source:
            return f"{self.template!r} (from {self.source})"
        return repr(self.template)


class RouteConflict(ValueError):
    """The route table cannot be loaded; the message names the offending template(s)."""
