"""rover.shared (rover_mt/lua/shared.lua) and SharedStore: SPEC section 10."""

from __future__ import annotations

import threading

import pytest
from lua_harness import ENGINES, LuaHarness

from rover_mt.worker.shared_store import SharedStore


class FakeClock:
    """A settable monotonic clock so TTL tests never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_python_api_basics():
    store = SharedStore()
    d = store.dict("cache")
    assert store.dict(b"cache") is d
    assert d.get("k") is None
    assert d.set("k", "v") is True
    assert d.get(b"k") == b"v"
    assert d.add("k", 1) == (False, b"exists")
    assert d.add("n", 1) == (True, None)
    assert d.incr("n", 2) == (3, None)
    assert d.incr("n", 0.5) == (3.5, None)
    assert d.incr("k", 1) == (None, b"not a number")
    assert d.incr("missing") == (None, b"not found")
    assert d.incr("fresh", 1, 10) == (11, None)
    assert d.set(3.0, True) and d.get(3) is True
    assert d.set("k", None) and d.get("k") is None
    assert sorted(d.keys()) == [b"3", b"fresh", b"n"]
    assert len(d.keys(2)) == 2
    assert d.delete("n") and d.get("n") is None
    assert d.flush() and d.keys() == []
    assert store.names() == [b"cache"]


def test_python_api_rejects_non_scalars():
    d = SharedStore().dict("x")
    with pytest.raises(TypeError):
        d.set("k", [1])
    with pytest.raises(TypeError):
        d.set(("tuple",), 1)
    with pytest.raises(ValueError):
        d.set("k", 1, -1)


def test_ttl_expires_lazily():
    clock = FakeClock()
    d = SharedStore(clock=clock).dict("t")
    d.set("a", 1, 10)
    d.set("forever", 1)
    assert d.ttl("a") == (10, None)
    assert d.ttl("forever") == (0, None)
    assert d.ttl("none") == (None, b"not found")
    clock.now += 4
    assert d.ttl("a") == (6, None)
    assert d.incr("a", 1) == (2, None)  # incr keeps the TTL
    assert d.ttl("a") == (6, None)
    clock.now += 6
    assert d.get("a") is None
    assert d.keys() == [b"forever"]
    assert d.add("a", 5) == (True, None)


def test_separate_stores_are_independent():
    a, b = SharedStore(), SharedStore()
    a.dict("c").set("k", 1)
    assert b.dict("c").get("k") is None


def test_call_reports_bad_arguments_as_values():
    store = SharedStore()
    assert store.call(b"c", b"set", b"k", 1, -5) == (None, b"ttl must be a number of seconds >= 0, got -5")
    assert store.call(b"c", b"frobnicate", b"k") == (None, b"unknown operation frobnicate")


def test_lua_methods(lua):
    out = lua.run_json(
        r"""
        local c = rover.shared.cache
        local function pack(...) return { n = select("#", ...), ... } end
        local r = {}
        r.set = c:set("a", "x")
        r.get = c:get("a")
        r.add_exists = pack(c:add("a", 1))
        r.add_new = pack(c:add("b", 1, 10))
        r.incr = c:incr("b", 2)
        r.incr_missing = pack(c:incr("zz", 1))
        r.incr_init = c:incr("zz", 1, 10)
        r.incr_default_step = c:incr("zz")
        r.incr_nan = pack(c:incr("a", 1))
        r.ttl_none = pack(c:ttl("nope"))
        r.ttl_forever = c:ttl("a")
        local ttl = c:ttl("b")
        r.ttl_ok = ttl > 9 and ttl <= 10
        r.number_key = c:set(1.0, true) and c:get(1)
        local keys = c:keys()
        table.sort(keys)
        r.keys = keys
        r.keys_max = #c:keys(2)
        r.delete = pack(c:delete("a"), c:get("a"))
        r.bin = c:set("x\0y", "a\0b") and c:get("x\0y") == "a\0b"
        r.float = c:set("f", 2.5) and c:get("f")
        r.set_nil_deletes = c:set("f", nil) and c:get("f") == nil
        r.flush = c:flush()
        r.empty = #c:keys()
        r.same_dict = rover.shared.cache == c and rover.shared.other ~= c
        return r
        """
    )
    assert out == {
        "set": True,
        "get": "x",
        "add_exists": {"1": False, "2": "exists", "n": 2},
        "add_new": {"1": True, "n": 1},
        "incr": 3,
        "incr_missing": {"2": "not found", "n": 2},
        "incr_init": 11,
        "incr_default_step": 12,
        "incr_nan": {"2": "not a number", "n": 2},
        "ttl_none": {"2": "not found", "n": 2},
        "ttl_forever": 0,
        "ttl_ok": True,
        "number_key": True,
        "keys": ["1", "a", "b", "zz"],
        "keys_max": 2,
        "delete": {"1": True, "n": 2},
        "bin": True,
        "float": 2.5,
        "set_nil_deletes": True,
        "flush": True,
        "empty": 0,
        "same_dict": True,
    }


def test_lua_values_are_visible_from_python(lua):
    lua.run("rover.shared.cfg:set('mode', 'fast'); rover.shared.cfg:set('n', 3)")
    d = lua.store.dict("cfg")
    assert d.get("mode") == b"fast"
    assert d.get("n") == 3
    d.set("from_py", "hello")
    assert lua.run("return rover.shared.cfg:get('from_py')") == b"hello"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("rover.shared.c:set('k', {})", "rover.shared: value must be a string, number, boolean or nil, got table"),
        ("rover.shared.c:add('k', print)", "rover.shared: value must be a string, number, boolean or nil, got function"),
        ("rover.shared.c:get({})", "rover.shared: key must be a string or number, got table"),
        ("rover.shared.c:set('k', 1, -1)", "rover.shared: ttl must be a number of seconds >= 0, got -1"),
        ("rover.shared.c:incr('k', 'x')", "rover.shared: incr step must be a number, got string"),
        ("rover.shared.c.get('k')", "rover.shared: call get with a colon"),
        ("rover.shared.c:keys(0/0)", "rover.shared: cannot convert float NaN to integer"),
        ("rover.shared.c = 1", "rover.shared: dictionaries are created by use"),
    ],
)
def test_lua_argument_errors_name_the_caller(lua, code, message):
    # Each snippet is its own chunk, so a level-2 error points into it.
    err = lua.error_of(code)
    assert message in err
    assert err.startswith('[string "<python>"]:1:')


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_concurrent_incr_from_four_runtimes(engine):
    store = SharedStore()
    harnesses = [LuaHarness(ENGINES[engine], store) for _ in range(4)]
    loops = [
        h.run("return function() for i = 1, 500 do rover.shared.hits:incr('n', 1, 0) end end")
        for h in harnesses
    ]
    barrier = threading.Barrier(4, timeout=30)
    failures: list[BaseException] = []

    def work(fn):
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(fn,)) for fn in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert store.dict("hits").get("n") == 2000
