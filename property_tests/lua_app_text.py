"""Writing a route table as the Lua app a user would write (SPEC section 3).

``app_source(table)`` turns ``RouteSpec`` entries into a ``rover.server {}`` app
whose every handler answers ``{route = ctx.route, params = ctx:params()}``, so the
Lua properties can compare what the real loader, router and worker did with the
reference model.
"""

from __future__ import annotations

from collections.abc import Iterable

from rover_mt.routing import RouteSpec

_ECHO = "function(ctx) return {route = ctx.route, params = ctx:params()} end"


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (UTF-8), escaping every byte that could bite."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '"\\':
            out.append(char)
        else:
            # Three digits always, so a following digit is never read into the escape.
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_keys(template: str) -> list[str]:
    """The table keys that declare ``template``: ``/users/{id}`` -> ``users``, ``p_id``."""
    if template == "/":
        return []
    keys = []
    for part in template[1:].split("/"):
        if part.startswith("{*"):
            keys.append("p_*" + part[2:-1])
        elif part.startswith("{"):
            keys.append("p_" + part[1:-1])
        else:
            keys.append(part)
    return keys


def route_lines(keys: list[str], methods: Iterable[str]) -> list[str]:
    """One ``api[...][...].method = function ... end`` line per method."""
    prefix = "api" + "".join(f"[{lua_string(key)}]" for key in keys)
    return [f"{prefix}.{method.lower()} = {_ECHO}" for method in sorted(methods)]


def app_source(table: Iterable[RouteSpec]) -> str:
    """The Lua app declaring ``table``; specs of one template are merged (one Lua table)."""
    methods_by_template: dict[str, set[str]] = {}
    for spec in table:
        methods_by_template.setdefault(spec.template, set()).update(spec.methods)
    lines = ["local api = rover.server {}"]
    for template, methods in methods_by_template.items():
        lines.extend(route_lines(lua_keys(template), methods))
    lines.append("return api")
    return "\n".join(lines) + "\n"


def wire_path(path: str) -> str:
    """``path`` as latin-1 text of bytes a client could send, with the same decoded meaning.

    Characters above U+00FF are not bytes, so they are percent-encoded as UTF-8;
    ``?`` and ``#`` would end the path, so they are percent-encoded too. Everything
    else (raw UTF-8 bytes, malformed escapes, ``+``) is kept as the router must see it.
    """
    out = []
    for char in path:
        if ord(char) > 0xFF or char in "?#":
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    return "".join(out)
