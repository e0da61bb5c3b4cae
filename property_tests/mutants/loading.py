"""Broken routers that accept or refuse the wrong tables."""

from __future__ import annotations

from collections.abc import Iterable

from rover_mt.routing import RouteConflict, Router, RouteSpec


class DuplicateMethodAccepted(Router):
    """Silently drops a spec that redeclares a method of the same template."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        kept: list[RouteSpec] = []
        for spec in routes:
            if not any(k.template == spec.template and k.methods & spec.methods for k in kept):
                kept.append(spec)
        super().__init__(kept)


class SharedParameterRefused(Router):
    """Refuses two templates that both have a parameter at the same node, even
    with the same name (``/u/{id}`` and ``/u/{id}/posts``), which is legal."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        specs = list(routes)
        super().__init__(specs)
        seen: dict[str, str] = {}
        for template in {spec.template for spec in specs}:
            parts = template.split("/")
            for depth, part in enumerate(parts):
                if part.startswith("{") and not part.startswith("{*"):
                    prefix = "/".join(parts[:depth])
                    if seen.setdefault(prefix, template) != template:
                        raise RouteConflict(f"{template!r} and {seen[prefix]!r} share a parameter")
