"""Broken routers that accept or refuse the wrong tables."""

from __future__ import annotations

from collections.abc import Iterable

from rover_mt.routing import RouteConflict, Router, RouteSpec, SegmentKind, parse_template


class DuplicateMethodAccepted(Router):
    """Silently drops a spec that redeclares a method of the same template."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        kept: list[RouteSpec] = []
        for spec in routes:
            if not any(k.template == spec.template and k.methods & spec.methods for k in kept):
                kept.append(spec)
        super().__init__(kept)


class DifferentNamesRefused(Router):
    """The old, stricter rule: refuses two templates that reach one position the same
    way and name its parameter differently (``/u/{id}`` and ``/u/{uid}/posts``),
    which is legal; only same-shape templates (``/u/{id}``, ``/u/{name}``) conflict."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        specs = list(routes)
        super().__init__(specs)
        templates = sorted({spec.template for spec in specs})
        for i, first in enumerate(templates):
            for second in templates[i + 1:]:
                for a, b in zip(parse_template(first), parse_template(second)):
                    if a.kind is not b.kind:
                        break
                    if a.value != b.value:
                        if a.kind is not SegmentKind.STATIC:
                            raise RouteConflict(f"{first!r} and {second!r} name {a} and {b}")
                        break
