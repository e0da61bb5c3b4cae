"""rover.guard (rover_mt/lua/guard.lua) on both engines: SPEC section 7."""

from __future__ import annotations

import pytest


def validate(lua, schema: str, data: str):
    """Run guard.validate(data, schema) in Lua; return (ok, result) as JSON values."""
    return lua.run_json(
        f"""
        local g = rover.guard
        local schema = {schema}
        local data = {data}
        return {{ g.validate(data, schema) }}
        """
    )


def errors(lua, schema: str, data: str):
    ok, errs = validate(lua, schema, data)
    assert ok is False
    return errs


def one_error(lua, schema: str, data: str):
    errs = errors(lua, schema, data)
    assert len(errs) == 1, errs
    return errs[0]


@pytest.mark.parametrize(
    ("builder", "value", "message"),
    [
        ("g:string()", "12", "Must be a string, got number"),
        ("g:string()", "true", "Must be a string, got boolean"),
        ("g:number()", "'1'", "Must be a number, got string"),
        ("g:integer()", "17.5", "Must be an integer, got number"),
        ("g:integer()", "'3'", "Must be an integer, got string"),
        ("g:boolean()", "1", "Must be a boolean, got number"),
        ("g:array(g:string())", "{a = 1}", "Must be an array, got object"),
        ("g:array()", "'x'", "Must be an array, got string"),
        ("g:object{}", "{1, 2}", "Must be an object, got array"),
        ("g:object{}", "rover.json.decode('[1]')", "Must be an object, got array"),
    ],
)
def test_type_errors(lua, builder, value, message):
    err = one_error(lua, f"{{ f = {builder} }}", f"{{ f = {value} }}")
    assert err == {"field": "f", "message": message, "type": "type"}


@pytest.mark.parametrize(
    ("builder", "value", "expected"),
    [
        ("g:string()", "'x'", "x"),
        ("g:number()", "2.5", 2.5),
        ("g:integer()", "30.0", 30),
        ("g:integer()", "-7", -7),
        ("g:boolean()", "false", False),
        ("g:array(g:integer())", "{1, 2}", [1, 2]),
        ("g:array(g:integer())", "{}", []),
        ("g:array(g:integer())", "rover.json.decode('[]')", []),
        ("g:object{ a = g:string() }", "{a = 'x', b = 'dropped'}", {"a": "x"}),
        ("g:object()", "{z = 1}", {"z": 1}),
    ],
)
def test_accepted_values_are_cleaned(lua, builder, value, expected):
    ok, out = validate(lua, f"{{ f = {builder} }}", f"{{ f = {value} }}")
    assert ok is True
    assert out == {"f": expected}


def test_integer_result_is_an_integer_on_lua54(lua):
    if lua.is_jit:
        pytest.skip("LuaJIT has no integer subtype")
    assert lua.run("return math.type(rover.guard({n = 30.0}, {n = rover.guard.integer()}).n)") == b"integer"


def test_required_default_and_custom_message(lua):
    schema = "{ name = g:string():required('Name is required'), email = g:string():required() }"
    errs = errors(lua, schema, "{}")
    assert errs == [
        {"field": "email", "message": "Field 'email' is required", "type": "required"},
        {"field": "name", "message": "Name is required", "type": "required"},
    ]
    # json null counts as missing.
    assert errors(lua, schema, "{name = 'x', email = rover.json.null}")[0]["type"] == "required"


def test_fields_are_optional_unless_required(lua):
    assert validate(lua, "{ a = g:string(), b = g:integer() }", "{}") == [True, {}]
    assert validate(lua, "{ a = g:string():required():optional() }", "{}") == [True, {}]


def test_defaults_fill_missing_and_null(lua):
    schema = "{ age = g:integer():default(18), role = g:string():enum{'admin','user'}:default('user'),"
    schema += " flag = g:boolean():default(false), tags = g:array(g:string()):default{} }"
    assert validate(lua, schema, "{ age = rover.json.null }") == [
        True,
        {"age": 18, "role": "user", "flag": False, "tags": []},
    ]


def test_required_with_default_is_never_missing(lua):
    assert validate(lua, "{ n = g:integer():required():default(1) }", "{}") == [True, {"n": 1}]


def test_table_defaults_are_copied(lua):
    out = lua.run_json(
        """
        local g = rover.guard
        local s = { t = g:object():default({ a = 1 }) }
        local first = g({}, s)
        first.t.a = 99
        return g({}, s)
        """
    )
    assert out == {"t": {"a": 1}}


def test_nullable_lets_explicit_null_through_as_absent(lua):
    schema = "{ addr = g:object{ city = g:string():required() }:nullable():required() }"
    assert validate(lua, schema, "{ addr = rover.json.null }") == [True, {}]
    assert errors(lua, schema, "{}")[0]["type"] == "required"


@pytest.mark.parametrize(
    ("builder", "value", "message", "kind"),
    [
        ("g:integer():min(0)", "-1", "Must be at least 0", "min"),
        ("g:integer():max(150)", "151", "Must be at most 150", "max"),
        ("g:number():min(0.5)", "0.25", "Must be at least 0.5", "min"),
        ("g:string():min_len(1)", "''", "Length must be at least 1", "length"),
        ("g:string():max_len(3)", "'abcd'", "Length must be at most 3", "length"),
        ("g:array(g:string()):max_len(1)", "{'a', 'b'}", "Length must be at most 1", "length"),
        ("g:array():min_len(1)", "{}", "Length must be at least 1", "length"),
        ("g:string():min(2)", "'a'", "Length must be at least 2", "length"),
        (
            "g:string():pattern('^[^@]+@[^@]+$')",
            "'nope'",
            "Must match pattern ^[^@]+@[^@]+$",
            "pattern",
        ),
        ("g:string():enum{'a', 'b'}", "'x'", "Must be one of: a, b. Got: 'x'", "enum"),
        ("g:integer():enum{1, 2}", "3", "Must be one of: 1, 2. Got: '3'", "enum"),
    ],
)
def test_constraint_messages(lua, builder, value, message, kind):
    assert one_error(lua, f"{{ f = {builder} }}", f"{{ f = {value} }}") == {
        "field": "f",
        "message": message,
        "type": kind,
    }


def test_bounds_are_inclusive(lua):
    schema = "{ n = g:integer():min(0):max(2), s = g:string():min_len(1):max_len(2) }"
    assert validate(lua, schema, "{ n = 0, s = 'a' }")[0] is True
    assert validate(lua, schema, "{ n = 2, s = 'ab' }")[0] is True


def test_string_length_counts_characters(lua):
    assert validate(lua, "{ s = g:string():max_len(2) }", "{ s = 'é€' }")[0] is True


def test_paths_for_nested_values(lua):
    schema = """{
      user = g:object{ address = g:object{ city = g:string():required() } },
      tags = g:array(g:string()),
      items = g:array(g:object{ id = g:integer():required() }),
    }"""
    data = "{ user = { address = {} }, tags = { 'a', 5 }, items = { { id = 1 }, { id = 'x' } } }"
    assert [(e["field"], e["type"]) for e in errors(lua, schema, data)] == [
        ("items[2].id", "type"),
        ("tags[2]", "type"),
        ("user.address.city", "required"),
    ]


def test_all_errors_are_collected_in_sorted_field_order(lua):
    schema = """{
      name  = g:string():required("Name is required"):min_len(1):max_len(80),
      email = g:string():required():pattern("^[^@]+@[^@]+$"),
      age   = g:integer():min(0):max(150):default(18),
      role  = g:string():enum{"admin", "user"}:default("user"),
    }"""
    errs = errors(lua, schema, "{ name = '', email = 'x', age = 200, role = 'root' }")
    assert [e["field"] for e in errs] == ["age", "email", "name", "role"]
    assert [e["type"] for e in errs] == ["max", "pattern", "length", "enum"]


def test_modifiers_work_with_dot_and_colon_in_any_order(lua):
    out = lua.run_json(
        """
        local g = rover.guard
        local a = g.string().required("R").min_len(2).max_len(3)
        local b = g:string():max_len(3):min_len(2):required("R")
        local c = g.array(g.integer()):max_len(1)
        local d = g:object({ x = g.integer().default(1) })
        local r = {}
        for _, s in ipairs({ a, b }) do
          local ok1, e1 = g.validate({}, { f = s })
          local ok2, e2 = g.validate({ f = "x" }, { f = s })
          local ok3 = g.validate({ f = "xyz" }, { f = s })
          r[#r + 1] = { e1[1].message, e2[1].type, ok3 }
        end
        r[#r + 1] = { g.validate({ f = { 1, 2 } }, { f = c }) }
        r[#r + 1] = g({ f = {} }, { f = d })
        return r
        """
    )
    assert out[0] == ["R", "length", True]
    assert out[1] == ["R", "length", True]
    assert out[2][0] is False and out[2][1][0]["type"] == "length"
    assert out[3] == {"f": {"x": 1}}


def test_modifiers_return_copies(lua):
    out = lua.run_json(
        """
        local g = rover.guard
        local base = g:string()
        local strict = base:required()
        return { g.validate({}, { f = base }) }
        """
    )
    assert out == [True, {}]


def test_plain_table_configs(lua):
    schema = """{
      name = { type = "string", required = true, min_len = 1 },
      role = { type = "string", enum = { "a", "b" }, default = "a" },
      tags = { type = "array", items = { type = "integer", min = 0 }, max_len = 3 },
      addr = { type = "object", fields = { city = { type = "string", required = "City!" } } },
      n = "integer",
    }"""
    assert validate(lua, schema, "{ name = 'x', tags = { 1 }, addr = { city = 'c' }, n = 2 }") == [
        True,
        {"name": "x", "role": "a", "tags": [1], "addr": {"city": "c"}, "n": 2},
    ]
    errs = errors(lua, schema, "{ name = '', tags = { -1 }, addr = {} , n = 1.5 }")
    assert [(e["field"], e["message"]) for e in errs] == [
        ("addr.city", "City!"),
        ("n", "Must be an integer, got number"),
        ("name", "Length must be at least 1"),
        ("tags[1]", "Must be at least 0"),
    ]


def test_schema_mistakes_raise_at_build_time(lua):
    assert "unknown option 'minlen'" in lua.error_of(
        "rover.guard({}, { a = { type = 'string', minlen = 1 } })"
    )
    assert "unknown type 'str'" in lua.error_of("rover.guard({}, { a = 'str' })")
    assert "min_len() applies to string and array" in lua.error_of("rover.guard.integer():min_len(1)")
    assert "bad pattern" in lua.error_of("rover.guard.string():pattern('[a')")
    assert "expects a number" in lua.error_of("rover.guard.integer():min('1')")


def test_call_raises_a_validation_error_table(lua):
    out = lua.run_json(
        """
        local g = rover.guard
        local ok, err = pcall(g, { age = "x" }, { age = g:integer(), name = g:string():required() })
        return {
          ok = ok, status = err.status, errors = err.errors,
          text = tostring(err), is = g.is_validation_error(err),
          not_is = g.is_validation_error({ status = 400 }),
          mt = getmetatable(err) == g.ValidationError_mt,
        }
        """
    )
    assert out == {
        "ok": False,
        "status": 400,
        "errors": [
            {"field": "age", "message": "Must be an integer, got string", "type": "type"},
            {"field": "name", "message": "Field 'name' is required", "type": "required"},
        ],
        "text": "Validation failed: Must be an integer, got string",
        "is": True,
        "not_is": False,
        "mt": True,
    }


def test_top_level_must_be_an_object(lua):
    ok, errs = validate(lua, "{ a = g:string() }", "'text'")
    assert ok is False
    assert errs == [{"field": "", "message": "Must be an object, got string", "type": "type"}]


def test_compiled_schema_is_cached_by_table(lua):
    out = lua.run(
        """
        local g = rover.guard
        local schema = { a = g:string(), b = { type = "integer" } }
        local f1 = g.compile(schema)
        local f2 = g.compile(schema)
        local nested = g.compile(schema.b)
        g({ a = "x" }, schema)
        return f1 == f2 and nested == g.compile(schema.b) and f1 ~= g.compile({ a = g:string() })
        """
    )
    assert out is True


def test_describe_gives_json_schema(lua):
    out = lua.run_json(
        """
        local g = rover.guard
        return g.describe({
          name  = g:string():required():min_len(1):max_len(80),
          email = g:string():required():pattern("^[^@]+@[^@]+$"),
          age   = g:integer():min(0):max(150):default(18):required(),
          role  = g:string():enum{"admin", "user"},
          tags  = g:array(g:string()):max_len(10),
          addr  = g:object{ city = g:string():required() }:nullable(),
          free  = g:string():pattern("%d+%.%d-"),
        })
        """
    )
    assert out == {
        "type": "object",
        "required": ["email", "name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 80},
            "email": {"type": "string", "pattern": "^[^@]+@[^@]+$", "x-lua-pattern": "^[^@]+@[^@]+$"},
            "age": {"type": "integer", "minimum": 0, "maximum": 150, "default": 18},
            "role": {"type": "string", "enum": ["admin", "user"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
            "addr": {
                "type": ["object", "null"],
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "free": {"type": "string", "x-lua-pattern": "%d+%.%d-"},
        },
    }


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("^%d+$", "^[0-9]+$"),
        ("^[%w_]+$", "^[A-Za-z0-9_]+$"),
        ("^a%.b", "^a\\.b"),
        ("x.y", None),
        ("%bxy", None),
        ("(a)", None),
        ("a-", None),
    ],
)
def test_pattern_conversion(lua, pattern, regex):
    fn = lua.run("return rover.guard.lua_pattern_to_regex")
    got = fn(pattern.encode())
    assert (got.decode() if got is not None else None) == regex
