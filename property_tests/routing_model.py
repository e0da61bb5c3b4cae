"""A deliberately simple reference model of SPEC section 3 routing.

It shares no code with ``rover_mt.routing``: it tries every declared template
against the path, ranks each match by the kinds of its segments (static 2 >
parameter 1 > catch-all 0, compared left to right) and takes the best, then
resolves the method on that template. Slow and obviously right, by design.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from rover_mt.routing import RouteSpec

STATIC, PARAM, CATCH_ALL = 2, 1, 0
KNOWN_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PARAM_SYNTAX = re.compile(r"\{(\*?)([^{}*]+)\}")


@dataclass(frozen=True)
class Outcome:
    """A router's answer in a form two routers can be compared by.

    ``handler`` is ``(template, sorted methods, source)`` of the spec that runs, for
    FOUND; ``template`` is the matched path's template for every kind but not_found.
    """

    kind: str
    template: str | None
    handler: tuple[str, tuple[str, ...], str] | None
    params: tuple[tuple[str, str], ...]
    run_method: str
    head_only: bool
    allow: str


def spec_key(spec: RouteSpec) -> tuple[str, tuple[str, ...], str]:
    return (spec.template, tuple(sorted(spec.methods)), spec.source)


def parse(template: str) -> list[tuple[int, str]] | None:
    """Template -> [(kind, text or name)], or None when the syntax is invalid."""
    if not template.startswith("/"):
        return None
    if template == "/":
        return []
    parts: list[tuple[int, str]] = []
    for text in template[1:].split("/"):
        found = _PARAM_SYNTAX.fullmatch(text)
        if found:
            parts.append((CATCH_ALL if found.group(1) else PARAM, found.group(2)))
        elif text == "" or "{" in text or "}" in text:
            return None
        else:
            parts.append((STATIC, text))
    names = [name for kind, name in parts if kind != STATIC]
    if len(names) != len(set(names)):
        return None
    if any(kind == CATCH_ALL for kind, _ in parts[:-1]):
        return None
    return parts


def decode(raw: str) -> str | None:
    """One raw segment -> text, or None if it has a bad escape, a non-byte or bad UTF-8."""
    out = bytearray()
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "%":
            hex_digits = raw[i + 1:i + 3]
            if len(hex_digits) != 2 or not all(h in string.hexdigits for h in hex_digits):
                return None
            out.append(int(hex_digits, 16))
            i += 3
            continue
        if ord(char) > 255:
            return None
        out.append(ord(char))
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def path_segments(raw_path: str) -> list[str | None] | None:
    """Decoded segments, or None when the path does not start with '/'."""
    if not raw_path.startswith("/"):
        return None
    if raw_path == "/":
        return []
    return [decode(part) for part in raw_path[1:].split("/")]


def match_template(parts: list[tuple[int, str]],
                   segments: list[str | None]) -> dict[str, str] | None:
    """Params if this one template matches the decoded segments, else None."""
    has_catch_all = bool(parts) and parts[-1][0] == CATCH_ALL
    fixed = parts[:-1] if has_catch_all else parts
    if has_catch_all and len(segments) <= len(fixed):
        return None
    if not has_catch_all and len(segments) != len(fixed):
        return None
    params: dict[str, str] = {}
    for (kind, text), segment in zip(fixed, segments):
        if segment is None or segment == "":
            return None
        if kind == STATIC and segment != text:
            return None
        if kind == PARAM:
            params[text] = segment
    if has_catch_all:
        rest = segments[len(fixed):]
        if any(s is None or s == "" for s in rest):
            return None
        params[parts[-1][1]] = "/".join(rest)  # type: ignore[arg-type]
    return params


def template_can_match(template: str, raw_path: str) -> bool:
    """Whether the template's shape matches the path, whatever the method."""
    parts, segments = parse(template), path_segments(raw_path)
    return parts is not None and segments is not None and \
        match_template(parts, segments) is not None


def allow_value(methods: set[str]) -> str:
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in methods:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def is_conflicting(table: Sequence[RouteSpec]) -> bool:
    """True when SPEC section 3 says this table must be refused at load time."""
    for spec in table:
        if not spec.methods or not spec.methods <= KNOWN_METHODS:
            return True
        if parse(spec.template) is None:
            return True
    for i, first in enumerate(table):
        for second in table[i + 1:]:
            if first.template == second.template and first.methods & second.methods:
                return True
            if _names_clash(parse(first.template), parse(second.template)):  # type: ignore[arg-type]
                return True
    return False


def _names_clash(a: list[tuple[int, str]], b: list[tuple[int, str]]) -> bool:
    """Two different templates of the same shape: they differ only by parameter names.

    Same length, the same kind at every position and the same text at every static
    position. Such templates match exactly the same paths, so neither can win.
    Different names at a shared position are fine otherwise (values are positional).
    """
    if len(a) != len(b) or a == b:
        return False
    return all(kind_a == kind_b and (kind_a != STATIC or text_a == text_b)
               for (kind_a, text_a), (kind_b, text_b) in zip(a, b))


def model_match(table: Sequence[RouteSpec], method: str, raw_path: str) -> Outcome:
    """The reference answer for one request against a valid table."""
    not_found = Outcome("not_found", None, None, (), "", False, "")
    segments = path_segments(raw_path)
    if segments is None:
        return not_found
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for template in sorted({spec.template for spec in table}):
        parts = parse(template)
        assert parts is not None
        params = match_template(parts, segments)
        if params is None:
            continue
        rank = tuple(kind for kind, _ in parts)
        assert best is None or rank != best[0], "valid tables never tie"
        if best is None or rank > best[0]:
            best = (rank, template, params)
    if best is None:
        return not_found
    _, template, params = best
    specs = [spec for spec in table if spec.template == template]
    declared = set().union(*(spec.methods for spec in specs))
    sorted_params = tuple(sorted(params.items()))
    if method in declared or (method == "HEAD" and "GET" in declared):
        run = method if method in declared else "GET"
        owner = next(spec for spec in specs if run in spec.methods)
        return Outcome("found", template, spec_key(owner), sorted_params, run,
                       run != method, "")
    kind = "auto_options" if method == "OPTIONS" else "method_not_allowed"
    return Outcome(kind, template, None, sorted_params, "", False, allow_value(declared))
