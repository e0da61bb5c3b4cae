"""rover.json (rover_mt/lua/json.lua) on both engines: SPEC section 6."""

from __future__ import annotations

import json

import orjson
import pytest


def enc(lua, expr: str) -> str:
    """Encode a Lua expression with rover.json.encode; return the text."""
    return lua.run(f"return rover.json.encode({expr})").decode("utf-8")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("{}", "{}"),
        ("rover.json.empty_array", "[]"),
        ("setmetatable({}, rover.json.array_mt)", "[]"),
        ("setmetatable({}, require('cjson').empty_array_mt)", "[]"),
        ("rover.json.null", "null"),
        ("{1, 2, 3}", "[1,2,3]"),
        ("{30.0, -2.0, 0.5, 0.1}", "[30,-2,0.5,0.1]"),
        ("{0/0, math.huge, -math.huge}", "[null,null,null]"),
        ("true", "true"),
        ("'plain'", '"plain"'),
        ("1/3", "0.3333333333333333"),
        ("2^53", "9007199254740992"),
        ("-2^62", "-4611686018427387904"),
        ("2^63", "9.2233720368547758e+18"),
        ("1e300", "1.0000000000000001e+300"),
        ("{a = {b = {}}}", '{"a":{"b":{}}}'),
        ("{[1] = 'a', [3] = 'c'}", None),  # keys not 1..n: object
    ],
)
def test_encode_values(lua, expr, expected):
    text = enc(lua, expr)
    if expected is None:
        assert orjson.loads(text) == {"1": "a", "3": "c"}
    else:
        assert text == expected


def test_mixed_keys_make_an_object_with_text_keys(lua):
    text = enc(lua, "{'x', [2] = 'y', [2.5] = 'z', name = 'n'}")
    assert orjson.loads(text) == {"1": "x", "2": "y", "2.5": "z", "name": "n"}


def test_string_escapes(lua):
    text = enc(lua, r'"q\" b\\ n\n r\r t\t b\b f\f c\1 del\127 /"')
    assert text == r'"q\" b\\ n\n r\r t\t b\b f\f c\u0001 del\u007f /"'
    assert orjson.loads(text) == 'q" b\\ n\n r\r t\t b\b f\f c\x01 del\x7f /'


def test_utf8_passes_through_and_invalid_bytes_become_replacement(lua):
    assert enc(lua, r'"\226\130\172 \240\159\152\128"') == '"€ 😀"'
    # A lone continuation byte, a truncated sequence, an overlong form and a
    # UTF-16 surrogate encoded in UTF-8 are each replaced with U+FFFD.
    text = enc(lua, r'"a\128b\226\130c\192\175d\237\160\128e"')
    assert orjson.loads(text) == "a\ufffdb\ufffd\ufffdc\ufffd\ufffdd\ufffd\ufffd\ufffde"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("local t = {}; t.self = t; return rover.json.encode(t)", "cycle in table"),
        ("return rover.json.encode({f = print})", "cannot encode function"),
        ("return rover.json.encode({coroutine.create(print)})", "cannot encode thread"),
        ("return rover.json.encode({[true] = 1})", "cannot encode key of type boolean"),
        ("return rover.json.encode({[{}] = 1})", "cannot encode key of type table"),
        (
            "local t = {}; local x = t; for i = 1, 64 do x.c = {}; x = x.c end;"
            " return rover.json.encode(t)",
            "JSON nesting deeper than 64 levels",
        ),
    ],
)
def test_encode_errors_are_plain_messages(lua, code, message):
    assert lua.error_of(code) == message


def test_encodes_in_a_row_reuse_no_stale_pieces(lua):
    # json.encode keeps its buffer for the next call: a shorter result after a
    # longer one, a result after a failed encode, and an encode nested inside
    # another (through __pairs) must each be exactly their own value.
    out = lua.run("""
      local json = rover.json
      local results = {}
      results[1] = json.encode({ a = "x", list = { 1, 2, 3, 4, 5 } })
      results[2] = json.encode({ 7 })
      results[3] = tostring(pcall(json.encode, { f = function() end }))
      results[4] = json.encode({ b = true })
      local inner = setmetatable({}, { __pairs = function(t)
        local nested = json.encode({ n = 1 })
        return next, { nested = nested }, nil
      end })
      results[5] = json.encode({ inner })
      results[6] = json.encode({ c = "end" })
      return table.concat(results, "|")
    """).decode()
    first, second, failed, fourth, fifth, sixth = out.split("|")
    assert orjson.loads(first) == {"a": "x", "list": [1, 2, 3, 4, 5]}
    assert (second, failed, fourth, sixth) == ("[7]", "false", '{"b":true}', '{"c":"end"}')
    if fifth != '[{"nested":"{\\"n\\":1}"}]':  # LuaJIT (5.1) has no __pairs
        assert fifth == "[{}]"


def test_sixty_four_levels_are_allowed(lua):
    text = lua.run(
        "local t = {}; local x = t; for i = 1, 63 do x.c = {}; x = x.c end;"
        " return rover.json.encode(t)"
    )
    assert text.count(b"{") == 64


def test_shared_subtable_is_not_a_cycle(lua):
    text = enc(lua, "(function() local s = {1}; return {a = s, b = s} end)()")
    assert orjson.loads(text) == {"a": [1], "b": [1]}


def test_sentinels_are_read_only(lua):
    assert "read-only" in lua.error_of("rover.json.null.x = 1")
    assert "read-only" in lua.error_of("rover.json.empty_array[1] = 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": [1, 2.5, "x", true, false, {}]}', {"a": [1, 2.5, "x", True, False, {}]}),
        ("[]", []),
        (" \t\r\n[ ]\n", []),
        ('"\\u00e9\\ud83d\\ude00\\n\\/"', "é😀\n/"),
        ('"\\ud800x"', "\ufffdx"),
        ("-0.5e+2", -50),
        ("1E2", 100),
        ("12345678901234567890", float(12345678901234567890)),
    ],
)
def test_decode_round_trips_through_encode(lua, text, expected):
    fn = lua.run("return function(s) return rover.json.encode(rover.json.decode(s)) end")
    assert orjson.loads(fn(text.encode())) == expected


def test_decode_types(lua):
    fn = lua.run(
        "return function(s) local v = rover.json.decode(s);"
        " return math.type and math.type(v) or type(v) end"
    )
    expected_int = b"number" if lua.is_jit else b"integer"
    assert fn(b"42") == expected_int
    assert fn(b"42.0") == (b"number" if lua.is_jit else b"float")
    assert fn(b"1e2") == (b"number" if lua.is_jit else b"float")


def test_decode_null_is_nil_by_default_and_sentinel_on_request(lua):
    assert lua.run("return rover.json.decode('null') == nil") is True
    assert lua.run("return rover.json.decode('{\"a\":null}').a == nil") is True
    assert (
        lua.run("return rover.json.decode('[null]', {null = rover.json.null})[1] == rover.json.null")
        is True
    )


def test_decoded_arrays_keep_their_array_mark_and_holes(lua):
    assert enc(lua, "rover.json.decode('[]')") == "[]"
    assert enc(lua, "rover.json.decode('[1,null,3]')") == "[1,null,3]"
    assert enc(lua, "rover.json.decode('{\"a\":[]}')") == '{"a":[]}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unexpected end of input at position 1"),
        ("[1,]", "unexpected character ']' at position 4"),
        ('{"a":1,}', "unexpected character '}' at position 8"),
        ("[1 2]", "unexpected character '2' at position 4"),
        ("01", "leading zero in number at position 1"),
        ("-01", "leading zero in number at position 2"),
        ("1.", "expected digit after decimal point at position 3"),
        ("1e", "expected digit in exponent at position 3"),
        ("NaN", "unexpected character 'N' at position 1"),
        ("Infinity", "unexpected character 'I' at position 1"),
        ("// c\n1", "unexpected character '/' at position 1"),
        ("{'a':1}", "unexpected character ''' at position 2"),
        ('"a\nb"', "control character in string at position 3"),
        ('"a\\x"', "invalid escape in string at position 3"),
        ('"\\u12"', "invalid \\u escape at position 2"),
        ('"abc', "unterminated string at position 5"),
        ("tru", "unexpected character 't' at position 1"),
        ("1 1", "unexpected character '1' at position 3"),
        ('"\xff"', "invalid UTF-8 in string at position 2"),
        ("[" * 201, "JSON nesting deeper than 200 levels at position 201"),
    ],
)
def test_decode_rejects_invalid_json(lua, text, message):
    fn = lua.run("return function(s) return select(2, pcall(rover.json.decode, s)) end")
    data = text.encode("latin-1")
    assert fn(data).decode("utf-8") == message


def test_decode_accepts_two_hundred_levels(lua):
    fn = lua.run(
        "return function(s) local v, d = rover.json.decode(s), 0;"
        " while v do d = d + 1; v = v[1] end; return d end"
    )
    assert fn(b"[" * 200 + b"]" * 200) == 200


def test_cjson_compat(lua):
    out = lua.run_json(
        """
        local cjson = require("cjson")
        local safe = require("cjson.safe")
        local v = cjson.decode('{"a":null,"b":[]}')
        local bad, err = safe.decode("{")
        local enc_bad, enc_err = safe.encode({f = print})
        return {
          null_kept = v.a == cjson.null,
          same_null = cjson.null == rover.json.null,
          text = cjson.encode({x = cjson.empty_array}),
          bad = bad == nil, err = err, enc_err = enc_err, enc_bad = enc_bad == nil,
          setters = cjson.encode_empty_table_as_object(false) ~= nil
            and cjson.decode_array_with_array_mt(true) ~= nil,
          depth = cjson.encode_max_depth(100),
          name = safe._NAME,
        }
        """
    )
    assert out == {
        "null_kept": True,
        "same_null": True,
        "text": '{"x":[]}',
        "bad": True,
        "err": "unexpected end of input at position 2",
        "enc_err": "cannot encode function",
        "enc_bad": True,
        "setters": True,
        "depth": 64,
        "name": "cjson.safe",
    }
    assert "at position" in lua.error_of("require('cjson').decode('[')")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("{1, 2}", True),
        ("{}", False),
        ("{1, nil, 3}", False),
        ("{1, x = 2}", False),
        ("rover.json.empty_array", True),
        ("rover.json.decode('[]')", True),
        ("rover.json.null", False),
        ("'text'", False),
    ],
)
def test_is_array_matches_the_encoder(lua, expr, expected):
    assert lua.run(f"return rover.json.is_array({expr})") is expected
    if isinstance(expected, bool) and expr != "'text'" and expr != "rover.json.null":
        text = lua.run(f"return rover.json.encode({expr})")
        assert text.startswith(b"[") is expected


def test_every_byte_in_a_string_encodes_and_decodes(lua):
    """The string fast paths decide per byte class: check each byte on its own,
    inside plain text, both ways (encode, and decode of the raw byte)."""
    encode = lua.run("return function(s) return rover.json.encode(s) end")
    decode = lua.run("return function(s) local ok, v = pcall(rover.json.decode, s)"
                     " if ok then return v end return nil end")
    for b in range(256):
        raw = b"ab" + bytes([b]) + b"cd"
        text = encode(raw)
        assert orjson.loads(text) == raw.decode("utf-8", "replace"), (b, text)
        decoded = decode(b'"' + raw + b'"')
        if b < 0x20 or b in (0x22, 0x5C) or b >= 0x80:
            # Controls, a lone quote or backslash and a lone non-ASCII byte are not valid JSON.
            assert decoded is None, (b, decoded)
        else:
            assert decoded == raw, (b, decoded)
        # Escaped as JSON writes it, every byte below 0x80 decodes back to itself.
        if b < 0x80:
            assert decode(orjson.dumps(raw.decode())) == raw, b


@pytest.mark.parametrize(
    "text",
    [
        '{"a":"b","c":1}', '{"a" : "b" , "c" :1}', '{ "a":"b"}', '{"a": "b"}', '{"a":\n\t"b"}',
        '{"a\\n":"b"}', '{"\u00e9":"\u00fc"}', '{"a":"b\\"c"}', '{"a":"b\\\\"}', '{"a":{"b":[]}}',
        '{"":""}', '{"a":"x","a":"y"}',
    ],
)
def test_object_members_in_every_spacing(lua, text):
    """decode_object's inline path (compact "key":"value") and its general path
    give the same table."""
    fn = lua.run("return function(s) return rover.json.encode(rover.json.decode(s)) end")
    assert orjson.loads(fn(text.encode())) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a" "b"}', '{"a":}', '{"a":"b}', '{"a":"b"', '{"a\x01":1}', '{"a":"\x7f\x01"}'])
def test_broken_objects_are_refused(lua, text):
    fn = lua.run("return function(s) return (pcall(rover.json.decode, s)) end")
    assert fn(text.encode()) is False
