"""The OpenAPI document built from loaded apps (no sockets): it validates, and it
says what the handlers really do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from openapi_spec_validator import validate

from rover_mt.openapi import build_document
from rover_mt.server import load_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def document(path: Path, **settings) -> dict:
    gen, config = load_app(path, env={}, settings=settings)
    return build_document(gen, config)


def body_schema(doc: dict, path: str, method: str) -> dict:
    return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def write_app(tmp_path: Path, text: str, name: str = "app.lua") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("name", ["hello.lua", "users.lua", "guard_all.lua"])
@pytest.mark.parametrize("engine", ["lua54", "luajit"])
def test_example_documents_validate(name, engine):
    doc = document(EXAMPLES / name, lua=engine)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    gen, _ = load_app(EXAMPLES / name, env={})
    listed = {(p, m) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    assert len(listed) == len(gen.lua_routes)


def test_users_example_paths_params_and_catch_all():
    doc = document(EXAMPLES / "users.lua")
    paths = doc["paths"]
    assert set(paths) == {"/users", "/users/{id}", "/hello", "/files/{path}"}
    assert paths["/users/{id}"]["parameters"] == [{
        "name": "id", "in": "path", "required": True, "description": "One path segment.",
        "schema": {"type": "string", "minLength": 1}}]
    catch_all = paths["/files/{path}"]["parameters"][0]
    assert catch_all["x-rover-catch-all"] is True and catch_all["name"] == "path"
    post = paths["/users"]["post"]
    assert post["summary"] == "Create a user" and post["tags"] == ["users"]
    assert post["responses"]["201"]["description"] == "The new user"
    assert post["responses"]["400"]["content"]["application/json"]["schema"]["anyOf"]
    assert post["x-rover-handler"].startswith("users.lua:")
    assert "text/html; charset=utf-8" in paths["/hello"]["get"]["responses"]["200"]["content"]
    delete = paths["/users/{id}"]["delete"]["responses"]
    assert set(delete) == {"204", "404", "default"} and "content" not in delete["204"]


def test_every_guard_feature_is_translated():
    doc = document(EXAMPLES / "guard_all.lua")
    s = body_schema(doc, "/profiles", "post")
    props = s["properties"]
    assert sorted(s["required"]) == ["email", "name"]
    assert props["name"] == {"type": "string", "minLength": 1, "maxLength": 80}
    assert props["age"] == {"type": "integer", "minimum": 0, "maximum": 150, "default": 18}
    assert props["score"] == {"type": "number", "minimum": -1.5, "maximum": 99.5}
    assert props["active"] == {"type": "boolean", "default": True}
    assert props["role"] == {"type": "string", "enum": ["admin", "user"], "default": "user"}
    # nullable(): null is a valid value, also for an enum.
    assert props["level"] == {"type": ["integer", "null"], "enum": [1, 2, 3, None]}
    assert props["address"]["type"] == ["object", "null"]
    assert props["address"]["required"] == ["city"]
    assert props["address"]["properties"]["zip"]["pattern"] == "^[0-9][0-9][0-9][0-9][0-9]$"
    assert props["tags"] == {"type": "array", "minItems": 0, "maxItems": 10,
                             "items": {"type": "string", "maxLength": 10}}
    assert props["items"]["items"]["required"] == ["id"]
    assert props["matrix"]["items"]["items"] == {"type": "number"}
    # A Lua pattern with no regex equivalent is kept only as an extension.
    assert "pattern" not in props["lua_only"] and props["lua_only"]["x-lua-pattern"] == "^%b()$"
    cfg = body_schema(doc, "/configs", "post")
    assert cfg["required"] == ["title"]
    assert cfg["properties"]["count"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 1}
    assert cfg["properties"]["meta"]["properties"] == {"note": {"type": "string"}}
    assert body_schema(doc, "/inline", "post")["properties"]["code"]["maxLength"] == 8
    assert body_schema(doc, "/circles", "post")["required"] == ["r"]
    assert body_schema(doc, "/checked", "put")["properties"] == {"flag": {"type": "boolean"}}
    # Chosen at run time: documented as some object, not guessed.
    assert body_schema(doc, "/dynamic/{kind}", "post") == {"type": "object"}
    manual = doc["paths"]["/manual"]["post"]
    assert body_schema(doc, "/manual", "post")["required"] == ["x"]
    assert manual["responses"]["422"]["description"] == "x must be a number"
    assert manual["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["x"]
    notes = doc["paths"]["/notes"]["post"]["requestBody"]["content"]
    assert notes == {"text/plain": {"schema": {"type": "string", "minLength": 1}}}


def test_schema_from_a_module_and_route_metadata(tmp_path):
    (tmp_path / "lib").mkdir()
    write_app(tmp_path, """
        local g = rover.guard
        local M = { item = { sku = g:string():required():pattern("^%u%u%d+$") } }
        function M.create(ctx)
          local it = ctx:body():expect(M.item)
          return { sku = it.sku }
        end
        return M
    """, "lib/items.lua")
    app = write_app(tmp_path, """
        local api = rover.server {}
        local items = require("lib.items")
        api.items.post = rover.route {
          summary = "Add an item", description = "Long text", tags = "items",
          deprecated = true, operation_id = "addItem",
        } (items.create)
        return api
    """)
    doc = document(app)
    validate(doc)
    op = doc["paths"]["/items"]["post"]
    assert op["operationId"] == "addItem" and op["deprecated"] is True
    assert op["tags"] == ["items"] and op["description"] == "Long text"
    assert op["x-rover-handler"].startswith("lib/items.lua:")
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["sku"]["pattern"] == "^[A-Z][A-Z][0-9]+$"


def test_unresolvable_and_misleading_text_does_not_break_loading(tmp_path):
    app = write_app(tmp_path, """
        local api = rover.server {}
        function api.a.post(ctx)
          -- ctx:body():expect(not_this)
          local s = "ctx:body():expect(nor_this)"
          return ctx:body():expect(missing_global)
        end
        function api.b.post(ctx)
          return ctx:body():expect(error("boom"))
        end
        return api
    """)
    doc = document(app)
    validate(doc)
    for p in ("/a", "/b"):
        assert body_schema(doc, p, "post") == {"type": "object"}


def test_cli_prints_the_same_document():
    out = subprocess.run([sys.executable, "-m", "rover_mt", "openapi", str(EXAMPLES / "users.lua")],
                         capture_output=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    printed = orjson.loads(out.stdout)
    validate(printed)
    assert printed == orjson.loads(orjson.dumps(document(EXAMPLES / "users.lua")))
