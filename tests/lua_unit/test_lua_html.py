"""rover.html (rover_mt/lua/html.lua) on both engines: SPEC section 8."""

from __future__ import annotations

import pytest


def render(lua, data: str, template: str) -> str:
    fn = lua.run(f"return function(tpl) return rover.html({data})(tpl) end")
    return fn(template.encode("utf-8")).decode("utf-8")


def render_error(lua, data: str, template: str) -> str:
    fn = lua.run(
        f"return function(tpl) return select(2, pcall(rover.html.render, tpl, {data})) end"
    )
    return fn(template.encode("utf-8")).decode("utf-8")


def test_values_are_escaped(lua):
    out = render(lua, "{ v = [[<a href=\"x\">Tom & 'Jerry'</a>]] }", "<p>{{ v }}</p>")
    assert out == "<p>&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;</p>"


def test_raw_is_not_escaped(lua):
    assert render(lua, "{ v = '<b>x</b>' }", "{{ raw(v) }}|{{ raw(nil) }}|") == "<b>x</b>||"


def test_nil_numbers_booleans_and_tables(lua):
    out = render(lua, "{ n = 3, f = 2.5, b = false }", "[{{ missing }}][{{ n }}][{{ f }}][{{ b }}][{{ n * 2 }}]")
    assert out == "[][3][2.5][false][6]"


def test_html_call_form_with_long_string(lua):
    out = lua.run("return rover.html{ name = 'Ada' } [[Hello {{ name }}!]]")
    assert out == b"Hello Ada!"


def test_if_elseif_else(lua):
    tpl = "{{ if n > 1 then }}many{{ elseif n == 1 then }}one{{ else }}none{{ end }}"
    assert [render(lua, f"{{ n = {n} }}", tpl) for n in (0, 1, 5)] == ["none", "one", "many"]


def test_for_and_while_loops(lua):
    tpl = "<ul>{{ for i, item in ipairs(items) do }}<li>{{ i }}={{ item }}</li>{{ end }}</ul>"
    out = render(lua, "{ items = { 'a', '<b>' } }", tpl)
    assert out == "<ul><li>1=a</li><li>2=&lt;b&gt;</li></ul>"
    out = render(lua, "{}", "{{ local i = 0 }}{{ while i < 3 do }}{{ i }}{{ i = i + 1 }}{{ end }}")
    assert out == "012"


def test_text_is_kept_verbatim(lua):
    tpl = 'line "1"\n\\ line\t2 \r\n%q {{ "x" }} ]] [=['
    assert render(lua, "{}", tpl) == 'line "1"\n\\ line\t2 \r\n%q x ]] [=['


def test_safe_helpers_and_data_override(lua):
    out = render(lua, "{ s = 'abc' }", "{{ string.upper(s) }} {{ #s }} {{ math.max(1, 4) }} {{ type(s) }}")
    assert out == "ABC 3 4 string"
    assert render(lua, "{ string = 'mine' }", "{{ string }}") == "mine"


def test_template_globals_do_not_leak(lua):
    assert render(lua, "{}", "{{ leaked = 1 }}{{ leaked }}") == "1"
    assert lua.run("return leaked") is None
    assert render(lua, "{}", "[{{ leaked }}]") == "[]"


def test_components(lua):
    out = lua.run(
        """
        function rover.html.card(props)
          return rover.html(props) [[<div class="card">{{ title }}</div>]]
        end
        rover.html.badge = function(text) return "<i>" .. text .. "</i>" end
        return rover.html{ t = "<T>" } [[{{ card{ title = t } }}{{ badge("b") }}{{ card({ title = "x" }) }}]]
        """
    )
    assert out == b'<div class="card">&lt;T&gt;</div><i>b</i><div class="card">x</div>'
    # Outside templates a component is the plain function.
    assert lua.run("return rover.html.card{ title = 'z' }") == b'<div class="card">z</div>'


def test_components_cannot_replace_module_functions(lua):
    lua.run("rover.html.card = function() return 'c' end")
    assert lua.run("return type(rover.html.render) == 'function' and rawget(rover.html, 'card') == nil")
    assert "must be a function" in lua.error_of("rover.html.bad = 42")


def test_recursive_component_keeps_each_render_environment(lua):
    out = lua.run(
        """
        function rover.html.tree(node)
          return rover.html(node) [[{{ name }}({{ for _, c in ipairs(children or {}) do }}{{ tree(c) }}{{ end }}){{ name }}]]
        end
        return rover.html.tree{ name = "a", children = { { name = "b", children = { { name = "c" } } }, { name = "d" } } }
        """
    )
    assert out == b"a(b(c()c)bd()d)a"


def test_compiled_once_per_template_string(lua):
    out = lua.run_json(
        """
        local h = rover.html
        local before = h.cache_info().size
        local a = h.render("{{ x }}", { x = 1 })
        local b = h.render("{{ x }}", { x = 2 })
        local mid = h.cache_info().size
        h.render("{{ x }}!", { x = 3 })
        return { a, b, mid - before, h.cache_info().size - before }
        """
    )
    assert out == ["1", "2", 1, 2]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a\nb\n{{ nope.x }}", "template error at line 3: attempt to index"),
        ("one\n{{ if x }}\nthree", "template error at line 2: 'then' expected"),
        ("a\n\n{{ error('boom') }}", "template error at line 3: boom"),
        ("a\n{{ x", "template error at line 2: unclosed {{"),
        ("1\n{{\n\n  y.z }}", "template error at line 4: attempt to index"),
        ("{{ for i = 1, 2 do }}\nno end", "template error at line"),
        ("x\n{{ string.rep() }}", "template error at line 2: bad argument"),
        ("{{ if true then }}\n\n{{ end }}{{ end }}", "template error at line 3:"),
    ],
)
def test_errors_name_the_template_line(lua, template, message):
    assert render_error(lua, "{}", template).startswith(message)


def test_table_errors_pass_through(lua):
    out = lua.run_json(
        "local ok, e = pcall(rover.html.render, '{{ error({ status = 404 }) }}', {}); return e"
    )
    assert out == {"status": 404}


def test_escape_and_render_helpers(lua):
    assert lua.run("return rover.html.escape('<&>')") == b"&lt;&amp;&gt;"
    assert lua.run("return rover.html.render('{{ a }}', { a = 'b' })") == b"b"
    assert lua.run("return rover.html.render('plain')") == b"plain"


def test_comment_tags_render_nothing_and_keep_line_numbers(lua):
    assert render(lua, "{ a = 1 }", "x{{ -- a note }}y{{ --[[ multi\nline ]] }}{{ a }}") == "xy1"
    assert render_error(lua, "{}", "{{ -- c\n }}\n{{ error('e') }}") == "template error at line 3: e"
