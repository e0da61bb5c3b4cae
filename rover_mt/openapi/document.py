"""Assemble the OpenAPI 3.1 document of one app generation.

Everything Lua-related was read when the app loaded (:mod:`.introspect`, kept
in ``AppGeneration.route_docs``); this module only arranges it per path.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..routing import SegmentKind, parse_template
from .introspect import NEEDS_SOURCE, describe_source

OPENAPI_VERSION = "3.1.0"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Error answer: `api.error(code, message)`, a raised error, or a client error.",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}

VALIDATION_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Body validation failed (rover.guard): every problem, each with the field path.",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object",
        "required": ["field", "message", "type"],
        "properties": {
            "field": {"type": "string", "examples": ["user.address.city", "tags[2]"]},
            "message": {"type": "string"},
            "type": {"type": "string",
                     "enum": ["required", "type", "enum", "min", "max", "length", "pattern"]},
        },
    }}},
}

DEFAULT_RESPONSE: dict[str, Any] = {
    "description": "Any other answer, for example a 500 `{\"error\": ...}` from an uncaught "
                   "Lua error, or a status the handler chooses at run time.",
}


def openapi_path(template: str) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path for a route template and its path parameters.

    A catch-all ``{*rest}`` becomes ``{rest}`` (OpenAPI has no catch-all); the
    parameter says so and carries ``x-rover-catch-all: true``.
    """
    parts: list[str] = []
    params: list[dict[str, Any]] = []
    for seg in parse_template(template):
        if seg.kind is SegmentKind.STATIC:
            parts.append(seg.value)
            continue
        parts.append("{" + seg.value + "}")
        param: dict[str, Any] = {"name": seg.value, "in": "path", "required": True,
                                 "schema": {"type": "string", "minLength": 1}}
        if seg.kind is SegmentKind.PARAM:
            param["description"] = "One path segment."
        else:
            param["description"] = ("Catch-all: the rest of the path, one or more segments "
                                     "(may contain '/').")
            param["x-rover-catch-all"] = True
        params.append(param)
    return "/" + "/".join(parts), params


def _operation_id(method: str, template: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", template).strip("_")
    return f"{method.lower()}_{words}" if words else f"{method.lower()}_root"


def _fix_nullable_enums(schema: Any) -> None:
    """guard's nullable() lets null through; an enum must then list null too."""
    if isinstance(schema, dict):
        types = schema.get("type")
        if isinstance(types, list) and "null" in types and isinstance(schema.get("enum"), list):
            if None not in schema["enum"]:
                schema["enum"].append(None)
        for value in schema.values():
            _fix_nullable_enums(value)
    elif isinstance(schema, list):
        for value in schema:
            _fix_nullable_enums(value)


def _operation(method: str, template: str, info: dict[str, Any], used_ids: set[str]) -> dict[str, Any]:
    op: dict[str, Any] = {}
    for key in ("summary", "description", "tags", "deprecated"):
        if key in info:
            op[key] = info[key]
    op_id = info.get("operationId") or _operation_id(method, template)
    base, n = op_id, 2
    while op_id in used_ids:
        op_id, n = f"{base}_{n}", n + 1
    used_ids.add(op_id)
    op["operationId"] = op_id
    if "requestBody" in info:
        op["requestBody"] = info["requestBody"]
    responses = dict(info.get("responses") or {})
    responses.setdefault("default", DEFAULT_RESPONSE)
    op["responses"] = responses
    if "x-rover-handler" in info:
        op["x-rover-handler"] = info["x-rover-handler"]
    return op


def build_document(gen: Any, config: Any) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `gen` (an AppGeneration) under `config`.

    Only the app's own routes are listed, in template order; the built-in
    endpoints (health, metrics, docs) are not part of the app's API.
    """
    from .. import __version__

    docs = getattr(gen, "route_docs", {}) or {}
    if any(NEEDS_SOURCE in info for info in docs.values()):
        # The load-time probe could not read handler texts: describe once more
        # with the generation's source and keep the result on the generation.
        docs = describe_source(gen.source, gen.engine)
        gen.route_docs = docs
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for route in sorted(gen.lua_routes, key=lambda r: (r.template, r.method)):
        oa_path, params = openapi_path(route.template)
        item = paths.setdefault(oa_path, {})
        if params:
            item["parameters"] = params
        info = copy.deepcopy(docs.get((route.template, route.method), {}))
        _fix_nullable_enums(info)
        item[route.method.lower()] = _operation(route.method, route.template, info, used_ids)
    name = gen.source.path.name
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": name,
            "version": "0.0.0",
            "description": f"HTTP API of `{name}`, generated by rover-mt {__version__} from the "
                           "routes the server has.",
        },
        "paths": paths,
        "components": {"schemas": {
            "Error": copy.deepcopy(ERROR_SCHEMA),
            "ValidationErrors": copy.deepcopy(VALIDATION_ERRORS_SCHEMA),
        }},
    }
