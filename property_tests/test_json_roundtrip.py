"""Issue 8 part 4: JSON round trips through Lua (``rover_mt/lua/json.lua``) and App.

Two handlers, one App for the whole module:

- ``POST /echo`` returns ``rover.json.decode(ctx:body():text())``: the decoded table
  goes back out through the normal response path (handler returns a table -> JSON).
  JSON ``null`` decodes to ``nil`` there, so object members that are ``null`` are
  dropped and trailing ``null`` s of an array are lost (Lua cannot tell ``{1}`` from
  ``{1, nil}``); ``null`` inside an array survives as a hole. ``nulls_as_nil`` is that
  rule, and the property checks the answer against it exactly.
- ``POST /reencode`` answers ``rover.json.encode(rover.json.decode(body, {null = json.null}))``
  as raw bytes: any JSON value, scalars and ``null`` included, comes back equal.

The empty-table rule: an empty Lua table encodes as ``{}``; ``decode`` marks arrays
(``array_mt``), so ``[]`` comes back as ``[]`` and ``{}`` as ``{}``. Code that builds
an empty table itself gets ``{}`` unless it uses ``rover.json.empty_array``. The
comparison is exact, so a change that swapped them would fail here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rover_mt

APP = """\
local api = rover.server {}
api.echo.post = function(ctx) return rover.json.decode(ctx:body():text()) end
api.reencode.post = function(ctx)
  local value = rover.json.decode(ctx:body():text(), { null = rover.json.null })
  return api.raw(rover.json.encode(value))
end
return api
"""
# Integers stay within 64 bits (Lua 5.4 integers); deeper values than this are
# covered by the rover.json unit tests (the encoder stops at 64 levels).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=6), inner, max_size=5)),
    max_leaves=20,
)
containers = st.one_of(st.lists(json_values, max_size=5),
                       st.dictionaries(st.text(max_size=6), json_values, max_size=5))

SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rover_mt.App]:
    path = tmp_path_factory.mktemp("json") / "app.lua"
    path.write_text(APP)
    loaded = rover_mt.App.load(path, workers=1, docs=False, metrics=False, log_level="nope")
    try:
        yield loaded
    finally:
        loaded.close()


def encode(value: Any, style: int) -> bytes:
    """JSON text in one of several legal spellings (\\u escapes, spacing)."""
    if style == 0:
        return orjson.dumps(value)
    if style == 1:
        return json.dumps(value, ensure_ascii=True).encode()     # \\uXXXX, surrogate pairs
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")


def nulls_as_nil(value: Any) -> Any:
    """What survives decoding with null -> nil and encoding again (see module doc)."""
    if isinstance(value, dict):
        return {k: nulls_as_nil(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        items = [nulls_as_nil(v) for v in value]
        while items and items[-1] is None:
            items.pop()
        return items
    return value


def same(a: Any, b: Any) -> bool:
    """Equal as JSON: 30 == 30.0 like in the encoder, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


@SETTINGS
@given(value=containers, style=st.integers(0, 2))
@example(value={"a": None, "b": [1, None, 3, None], "c": [], "d": {}}, style=0)
@example(value=["\u0000\u001f\u007f\u2028😀", 1.0, 2.5e-300, -0.0, 2**63 - 1], style=1)
def test_echo_handler_round_trips(app: rover_mt.App, value: Any, style: int) -> None:
    response = app.handle("POST", "/echo", {"Content-Type": "application/json"},
                          encode(value, style))
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("application/json")
    assert same(response.json(), nulls_as_nil(value)), response.body


@SETTINGS
@given(value=json_values, style=st.integers(0, 2))
@example(value=None, style=0)
@example(value=[None, [], {}, [None]], style=0)
def test_raw_encode_decode_round_trips(app: rover_mt.App, value: Any, style: int) -> None:
    response = app.handle("POST", "/reencode", {"Content-Type": "application/json"},
                          encode(value, style))
    assert response.status == 200, response.body
    assert same(response.json(), value), response.body
