"""Parsing of path templates such as ``/users/{id}/files/{*rest}``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .spec import RouteConflict


class SegmentKind(enum.IntEnum):
    """What a template segment matches. Higher value = higher matching precedence."""

    CATCH_ALL = 0
    PARAM = 1
    STATIC = 2


@dataclass(frozen=True, slots=True)
class Segment:
    """One ``/``-separated piece of a template.

    ``value`` is the literal text for a static segment and the parameter name
    (without braces or ``*``) for a parameter or catch-all.
    """

    kind: SegmentKind
    value: str

    def __str__(self) -> str:
        if self.kind is SegmentKind.PARAM:
            return "{" + self.value + "}"
        if self.kind is SegmentKind.CATCH_ALL:
            return "{*" + self.value + "}"
        return self.value


def parse_template(template: str) -> list[Segment]:
    """Split ``template`` into segments, checking its syntax.

    ``"/"`` gives ``[]``. Raises :class:`RouteConflict` (a ``ValueError``) naming
    the template when it does not start with ``/``, has an empty segment (``//``
    or a trailing ``/``), a parameter without a name (``{}``, ``{*}``), stray
    braces, a catch-all that is not the last segment, or a repeated parameter name.
    """
    if not isinstance(template, str) or not template.startswith("/"):
        raise RouteConflict(f"route template {template!r} must start with '/'")
    if template == "/":
        return []
    segments = [_parse_segment(template, text) for text in template[1:].split("/")]
    seen: set[str] = set()
    for position, segment in enumerate(segments):
        if segment.kind is SegmentKind.STATIC:
            continue
        if segment.kind is SegmentKind.CATCH_ALL and position != len(segments) - 1:
            raise RouteConflict(
                f"route template {template!r}: catch-all {segment} must be the last segment"
            )
        if segment.value in seen:
            raise RouteConflict(
                f"route template {template!r}: parameter name {segment.value!r} is used twice"
            )
        seen.add(segment.value)
    return segments


def _parse_segment(template: str, text: str) -> Segment:
    """Classify one segment's text; ``template`` is only used for messages."""
    if text == "":
        raise RouteConflict(
            f"route template {template!r} has an empty segment ('//' or a trailing '/')"
        )
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1]
        kind = SegmentKind.PARAM
        if inner.startswith("*"):
            kind = SegmentKind.CATCH_ALL
            inner = inner[1:]
        if inner == "":
            raise RouteConflict(f"route template {template!r}: parameter {text!r} has no name")
        if "{" in inner or "}" in inner or "*" in inner:
            raise RouteConflict(f"route template {template!r}: bad parameter {text!r}")
        return Segment(kind, inner)
    if "{" in text or "}" in text:
        # A brace anywhere else would be a half-written parameter; refusing it keeps
        # "/a{b}" from silently becoming a static route nobody meant.
        raise RouteConflict(
            f"route template {template!r}: segment {text!r} mixes text and a parameter"
        )
    return Segment(SegmentKind.STATIC, text)
