"""Property: JSON-like values survive Python -> JSON -> Lua -> rover.json -> Python."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lua_harness import ENGINES, LuaHarness

_harnesses: dict[str, LuaHarness] = {}


def harness(name: str) -> LuaHarness:
    # One runtime per engine for the whole module: Hypothesis runs many
    # examples and building a runtime per example would dominate the time.
    if name not in _harnesses:
        _harnesses[name] = LuaHarness(ENGINES[name])
    return _harnesses[name]


def json_values(int_bound: int) -> st.SearchStrategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-int_bound, max_value=int_bound)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=20,
    )


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_round_trip(engine: str) -> None:
    h = harness(engine)
    # LuaJIT numbers are doubles: integers are exact only up to 2^53.
    bound = 2**53 if h.is_jit else 2**63 - 1
    fn = h.run(
        "return function(s) return rover.json.encode(rover.json.decode(s, {null = rover.json.null})) end"
    )

    @settings(max_examples=150, deadline=None)
    @given(json_values(bound))
    def check(value: object) -> None:
        text = fn(orjson.dumps(value))
        assert orjson.loads(text) == value

    check()
