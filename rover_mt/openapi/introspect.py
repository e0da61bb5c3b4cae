"""What the loaded app says about each route, read once when the app loads.

:func:`describe_routes` runs in the scratch runtime that validates the app
(``AppGeneration.load``). For every handler it reads the handler's source text,
finds the schema its body is checked with and the responses it builds (see
:mod:`.handler_scan`), evaluates the schema expression in the handler's own
scope through ``rover_mt/lua/introspect.lua``, and merges what the author
declared with ``rover.route { summary = ..., responses = ... }``.

The result is plain JSON-able data per ``(template, METHOD)``, already shaped
as OpenAPI fragments, so building the document later needs no Lua at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ..worker.runtime import AppSource, LuaApp, LuaRoute, lua_source
from .handler_scan import HTML, JSON, OCTET, TEXT, HandlerFacts, scan_handler
from .route_meta import apply_route_meta

# Marks docs made without the app's source text (see describe_routes); the
# document builder then describes the generation again with its source.
NEEDS_SOURCE = "x-rover-needs-source"

# Short names for the content types a body reader implies.
_BODY_READER_TYPES = {"json": JSON, "text": "text/plain", "raw": OCTET, "bytes": OCTET}


class _Helper:
    """The Lua helpers of introspect.lua, bound to one probe runtime."""

    def __init__(self, probe: LuaApp) -> None:
        prelude, core = probe.prelude, probe.core
        chunk = prelude[b"compile"](lua_source("introspect.lua"), b"@rover/introspect.lua", None)
        rover = core[b"rover"]
        deps = probe.lua.table_from({
            b"getinfo": prelude[b"getinfo"], b"getupvalue": prelude[b"getupvalue"],
            b"compile": prelude[b"compile"], b"env": core[b"env"],
            b"guard": rover[b"guard"], b"api": core[b"api"], b"json": rover[b"json"],
        })
        self.m = chunk()(deps)

    def location(self, fn: Any) -> tuple[bytes, int, int] | None:
        loc = self.m[b"location"](fn)
        if not isinstance(loc, tuple) or loc[0] is None:
            return None
        return loc[0], int(loc[1]), int(loc[2])

    def is_api(self, fn: Any, expr: str) -> bool:
        return bool(self.m[b"is_api"](fn, expr.encode()))

    def is_guard_call(self, fn: Any, expr: str) -> bool:
        return bool(self.m[b"is_guard_call"](fn, expr.encode()))

    def eval(self, fn: Any, expr: str) -> Any:
        """The value of `expr` in fn's scope, or None when it cannot be known."""
        result = self.m[b"eval"](fn, expr.encode())
        if isinstance(result, tuple) and result and result[0] is True:
            return result[1] if len(result) > 1 else None
        return None

    def schema(self, value: Any) -> dict[str, Any] | None:
        """JSON Schema for a guard schema value, or None if it is not one."""
        return _json_result(self.m[b"describe"](value))

    def to_json(self, value: Any) -> Any:
        return _json_result(self.m[b"to_json"](value), accept_any=True)


def _json_result(result: Any, accept_any: bool = False) -> Any:
    if not (isinstance(result, tuple) and len(result) > 1 and result[0] is True):
        return None
    try:
        value = orjson.loads(result[1])
    except orjson.JSONDecodeError:
        return None
    return value if accept_any or isinstance(value, dict) else None


class _SourceFiles:
    """Text of the app file and its modules, by Lua chunk name (``@users.lua``)."""

    def __init__(self, source: AppSource | None) -> None:
        self.source = source
        self._cache: dict[bytes, str | None] = {}

    def text(self, chunkname: bytes) -> str | None:
        if chunkname in self._cache:
            return self._cache[chunkname]
        text = None
        src = self.source
        if src is not None and chunkname.startswith(b"@"):
            if chunkname == src.chunkname:
                text = src.text.decode("utf-8", "replace")
            else:
                # Modules are named relative to the app's folder (see runtime._module_reader).
                root = src.path.parent
                path = (root / chunkname[1:].decode("utf-8", "replace")).resolve()
                if path.is_relative_to(root) and path.suffix == ".lua" and path.is_file():
                    text = path.read_text("utf-8", "replace")
        self._cache[chunkname] = text
        return text


def _handler_text(files: _SourceFiles, helper: _Helper, fn: Any) -> tuple[str, str] | None:
    """(source lines of the handler, "file:line") or None when unreadable."""
    loc = helper.location(fn)
    if loc is None:
        return None
    chunk, first, last = loc
    text = files.text(chunk)
    if text is None or first <= 0:
        return None
    lines = text.splitlines()[first - 1:last]
    return "\n".join(lines), f"{chunk[1:].decode('utf-8', 'replace')}:{first}"


def _request_body(facts: HandlerFacts, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is not None:
        return {"required": True, "content": {JSON: {"schema": schema}}}
    if not facts.reads_body:
        return None
    kinds = facts.body_kinds - {"expect"}
    if "expect" in facts.body_kinds:
        # Validated, but the schema could not be read at load time: an object.
        return {"required": True, "content": {JSON: {"schema": {"type": "object"}}}}
    # An empty body counts as no body (ctx:body() raises 400), hence minLength 1.
    non_empty = {"schema": {"type": "string", "minLength": 1}}
    content = {_BODY_READER_TYPES[k]: ({} if k == "json" else non_empty)
               for k in sorted(kinds) if k in _BODY_READER_TYPES}
    return {"required": True, "content": content or {"*/*": non_empty}}


def _responses(facts: HandlerFacts, has_body: bool) -> dict[str, Any]:
    """OpenAPI responses for what the handler text shows."""
    out: dict[str, Any] = {}
    for status in sorted(facts.responses):
        ctypes = facts.responses[status]
        entry: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "Response")}
        content_types = sorted(c for c in ctypes if c is not None)
        # A 200 also produced by a return we cannot read may carry another type:
        # leave its content open rather than document a wrong one.
        known = not (status == 200 and facts.unknown_return)
        if content_types and known and not (None in ctypes and status != 204):
            content: dict[str, Any] = {}
            for c in content_types:
                content[c] = {"schema": _content_schema(c, status)}
            entry["content"] = content
        out[str(status)] = entry
    if facts.unknown_return and "200" not in out:
        out["200"] = {"description": "OK"}
    if has_body:
        out["400"] = {
            "description": "The body is missing, is not valid JSON, or fails validation",
            "content": {JSON: {"schema": {"anyOf": [
                {"$ref": "#/components/schemas/ValidationErrors"},
                {"$ref": "#/components/schemas/Error"},
            ]}}},
        }
    return out


def _content_schema(ctype: str, status: int) -> dict[str, Any]:
    if ctype in (TEXT, HTML):
        return {"type": "string"}
    if ctype == OCTET:
        return {"type": "string", "format": "binary"}
    if status >= 400:  # api.error(code, message) or api.error(code, validation_error)
        return {"anyOf": [{"$ref": "#/components/schemas/Error"},
                          {"$ref": "#/components/schemas/ValidationErrors"}]}
    return {}


_DESCRIPTIONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
                 301: "Moved Permanently", 302: "Found", 303: "See Other",
                 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
                 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                 422: "Unprocessable Content", 429: "Too Many Requests"}


def _describe_one(helper: _Helper, files: _SourceFiles, fn: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    found = _handler_text(files, helper, fn)
    if found is None:
        return info
    text, where = found
    info["x-rover-handler"] = where
    facts = scan_handler(text, lambda e: helper.is_api(fn, e),
                         lambda e: helper.is_guard_call(fn, e))
    schema = None
    for expr in facts.schema_exprs:
        value = helper.eval(fn, expr)
        schema = helper.schema(value) if value is not None else None
        if schema is not None:
            break
    body = _request_body(facts, schema)
    if body is not None:
        info["requestBody"] = body
    info["responses"] = _responses(facts, body is not None)
    return info


def describe_routes(probe: LuaApp, routes: list[LuaRoute], *,
                    source: AppSource | None = None) -> dict[tuple[str, str], dict]:
    """OpenAPI fragments per ``(template, METHOD)`` for the routes of `probe`.

    `source` is the app file; it defaults to ``probe.source`` when the runtime
    keeps one. Without it, handler texts cannot be read and only what
    ``rover.route { ... }`` declares is reported. Never raises for a route it
    cannot understand: that route just gets less detail.
    """
    helper = _Helper(probe)
    if source is None:
        source = getattr(probe, "source", None)
    files = _SourceFiles(source)
    core = probe.core
    out: dict[tuple[str, str], dict] = {}
    for route in routes:
        fn = core[b"route_function"](route.index)
        try:
            info = _describe_one(helper, files, fn)
        except Exception:  # introspection is best effort; the route still works
            info = {}
        meta = core[b"route_meta"](route.index)
        if meta is not None:
            apply_route_meta(info, meta, helper)
        if source is None:
            info[NEEDS_SOURCE] = True
        out[(route.template, route.method)] = info
    return out


def describe_source(source: AppSource, engine: str = "lua54") -> dict[tuple[str, str], dict]:
    """Load `source` in a scratch runtime of its own and describe its routes."""
    probe = LuaApp(source, engine=engine)
    return describe_routes(probe, probe.routes(), source=source)


def describe_file(path: str | Path, engine: str = "lua54") -> dict[tuple[str, str], dict]:
    """Load the app at `path` in a scratch runtime and describe its routes."""
    return describe_source(AppSource.read(path), engine)
