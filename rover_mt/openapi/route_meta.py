"""Merge what an app author declares with ``rover.route { ... }`` into a route's
OpenAPI fragment. Every option is optional; the handler is written as usual::

    api.users.post = rover.route {
      summary = "Create a user",
      description = "Longer text (Markdown).",
      tags = { "users" },
      deprecated = false,
      operation_id = "createUser",
      body = user_schema,                -- when the handler's own schema is not found
      responses = {
        [201] = { description = "Created", schema = user_out },
        [409] = "The email is taken",   -- a description alone
        [200] = { content_type = "text/csv", schema = { type = "string" } },
      },
    } (function(ctx) ... end)

A `schema` may be a guard schema (``g:object{...}``), a guard config or field
table, or a plain JSON Schema table (``{ type = "object", properties = ... }``)
when guard cannot read it.
"""

from __future__ import annotations

from typing import Any, Protocol

JSON = "application/json"


class SchemaReader(Protocol):
    """The bits of the Lua helper this module needs (see introspect._Helper)."""

    def schema(self, value: Any) -> dict[str, Any] | None: ...
    def to_json(self, value: Any) -> Any: ...


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return None


def _items(table: Any) -> list[tuple[Any, Any]]:
    try:
        return list(table.items())
    except AttributeError:
        return []


def _list_order(kv: tuple[Any, Any]) -> tuple[int, Any]:
    return (0, kv[0]) if isinstance(kv[0], int) else (1, str(kv[0]))


# Keys a guard config table may hold (rover_mt/lua/guard.lua CONFIG_KEYS).
_GUARD_CONFIG_KEYS = frozenset({
    b"type", b"required", b"message", b"optional", b"default", b"enum", b"nullable", b"min",
    b"max", b"min_len", b"max_len", b"pattern", b"items", b"fields", b"schema", b"properties"})


def _is_json_schema_table(value: Any) -> bool:
    """A table written as JSON Schema rather than as a guard config: it has a
    string `type` and a JSON-Schema-only shape (`required` as a list of names,
    or keywords guard does not know, such as `minimum` or `format`)."""
    items = _items(value)
    if not items or not isinstance(value[b"type"], bytes):
        return False
    return (not isinstance(value[b"required"], (bool, bytes, type(None)))
            or any(k not in _GUARD_CONFIG_KEYS for k, _ in items))


def _schema_of(value: Any, reader: SchemaReader) -> dict[str, Any] | None:
    if _is_json_schema_table(value):
        raw = reader.to_json(value)
        return raw if isinstance(raw, dict) else None
    schema = reader.schema(value)
    if schema is None:
        raw = reader.to_json(value)  # a JSON Schema written as a Lua table
        schema = raw if isinstance(raw, dict) else None
    return schema


def _response(value: Any, reader: SchemaReader, old: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = dict(old or {})
    entry.setdefault("description", "Response")
    text = _text(value)
    if text is not None:
        entry["description"] = text
        return entry
    desc = _text(value[b"description"]) if _items(value) else None
    if desc:
        entry["description"] = desc
    schema_value = value[b"schema"] if _items(value) else None
    ctype = _text(value[b"content_type"]) if _items(value) else None
    if schema_value is not None:
        schema = _schema_of(schema_value, reader)
        if schema is not None:
            entry["content"] = {ctype or JSON: {"schema": schema}}
    elif ctype:
        entry["content"] = {ctype: {}}
    return entry


def apply_route_meta(info: dict[str, Any], meta: Any, reader: SchemaReader) -> None:
    """Update `info` (the route's OpenAPI fragment) from a rover.route table."""
    for key, name in ((b"summary", "summary"), (b"description", "description"),
                      (b"operation_id", "operationId")):
        text = _text(meta[key])
        if text:
            info[name] = text
    if meta[b"deprecated"] is True:
        info["deprecated"] = True
    tags = meta[b"tags"]
    if _text(tags):
        info["tags"] = [_text(tags)]
    elif tags is not None:
        names = [_text(v) for _, v in sorted(_items(tags), key=_list_order)]
        if names and all(names):
            info["tags"] = names
    body = meta[b"body"]
    if body is not None:
        schema = _schema_of(body, reader)
        if schema is not None:
            info["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
            info.setdefault("responses", {}).setdefault("400", {
                "description": "The body is missing, is not valid JSON, or fails validation",
                "content": {JSON: {"schema": {"anyOf": [
                    {"$ref": "#/components/schemas/ValidationErrors"},
                    {"$ref": "#/components/schemas/Error"}]}}}})
    responses = meta[b"responses"]
    for code, value in _items(responses):
        status = _text(code) or (str(code) if isinstance(code, int) else None)
        if status is None or not (status.isdigit() and len(status) == 3 or status == "default"):
            continue
        out = info.setdefault("responses", {})
        out[status] = _response(value, reader, out.get(status))
