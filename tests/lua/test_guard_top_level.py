"""rover.guard's top level is a value to check: nil or a JSON null for an object
schema is a type error, never "an object with no fields"."""

from __future__ import annotations

APP = """
local api = rover.server {}
local g = rover.guard
local S = { name = g:string():required() }
function api.direct.post(ctx) return rover.guard(ctx:body():json(), S) end
function api.caught.get()
  local ok, err = pcall(rover.guard, nil, S)
  return { ok = ok, errors = err.errors }
end
return api
"""


def test_null_body_is_a_type_error(make_app):
    app = make_app(APP)
    r = app.handle("POST", "/direct", {}, b"null")
    assert r.status == 400
    assert r.json() == {"errors": [{"field": "", "message": "Must be an object, got null", "type": "type"}]}
    assert app.handle("POST", "/direct", {}, b'{"name": "x"}').json() == {"name": "x"}


def test_nil_data_raises(make_app):
    r = make_app(APP).handle("GET", "/caught").json()
    assert r == {"ok": False, "errors": [{"field": "", "message": "Must be an object, got null", "type": "type"}]}
