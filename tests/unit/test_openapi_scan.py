"""Reading handler source text: Lua lexing helpers and the handler scanner."""

from __future__ import annotations

from rover_mt.openapi.handler_scan import HTML, JSON, TEXT, scan_handler
from rover_mt.openapi.lua_text import call_arguments, mask, table_argument


def test_mask_blanks_comments_and_optionally_strings_keeping_offsets():
    src = 'local x = "a(b" -- expect(c)\n--[[ expect(y) ]] f(x) return [==[ hi ]==]'
    code = mask(src)
    assert len(code) == len(src) and code.count("\n") == 1
    assert "expect" not in code and '"a(b"' in code and "[==[ hi ]==]" in code
    plain = mask(src, strings=True)
    assert '"   "' in plain and "hi" not in plain and "f(x)" in plain


def test_call_arguments_respect_nesting_and_strings():
    src = 'f(x, {1, 2}, "q)", g(a, b), [[ ) ]])'
    args, end = call_arguments(src, 1)
    assert args == ["x", "{1, 2}", '"q)"', "g(a, b)", "[[ ) ]]"]
    assert end == len(src)
    assert call_arguments("f(", 1) is None
    assert call_arguments("f()", 1) == ([], 3)


def test_table_argument():
    src = 'expect { a = { b = "}" } } rest'
    found = table_argument(src, src.index("{"))
    assert found == ('{ a = { b = "}" } }', src.index(" rest"))


def _scan(src, api_names=("api",), guard_names=("rover.guard",)):
    return scan_handler(src, lambda e: e in api_names, lambda e: e in guard_names)


def test_schema_expressions_from_expect_and_guard_calls():
    facts = _scan("""function(ctx)
      -- ctx:body():expect(commented)
      local a = ctx:body():expect(schemas.user)
      local b = ctx:body():expect { name = g:string() }
      local c = rover.guard(ctx:body():json(), other)
      local d = rover.guard(something_else, not_body)
      return a
    end""")
    assert facts.schema_exprs == ["schemas.user", "{ name = g:string() }", "other"]
    assert facts.reads_body and "expect" in facts.body_kinds and "json" in facts.body_kinds


def test_builders_give_statuses_and_content_types():
    facts = _scan("""function(ctx)
      if a then return api.json:status(201, {}) end
      if b then return api:error(404, "nope") end
      if c then return api.html("<p>") end
      if d then return api.redirect:permanent("/x") end
      if e then return api.no_content() end
      if f then return api.response { status = 202, body = { ok = true } } end
      if g then return other.json({}) end
      return api.text("ok")
    end""")
    assert facts.responses == {201: {JSON}, 404: {JSON}, 200: {HTML, TEXT}, 301: {None},
                               204: {None}, 202: {JSON}}
    # other.json is not the server table: it is an unknown return.
    assert facts.unknown_return


def test_ctx_body_json_is_not_a_builder():
    facts = _scan("function(ctx) local t = ctx:body():json() return { got = t } end",
                  api_names=("api", "ctx"))
    assert facts.responses == {200: {JSON}}
    assert not facts.unknown_return


def test_literal_returns_and_nested_functions():
    facts = _scan("""function(ctx)
      table.sort(list, function(a, b) return a < b end)
      if x then return "text" end
      if y then return 42 end
      if z then return end
      return { list = list }
    end""")
    assert facts.responses == {200: {TEXT, JSON}, 204: {None}}
    assert not facts.unknown_return  # `return a < b` belongs to the nested function


def test_no_return_means_no_content_and_raised_status():
    facts = _scan("""function(ctx)
      if bad then error({ status = 418, message = "teapot" }) end
      rover.log.info("x")
    end""")
    assert facts.responses == {204: {None}, 418: {JSON}}
