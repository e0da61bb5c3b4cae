"""Where should JSON be encoded and decoded: inside Lua (json.lua, GIL released) or in
Python (orjson, after converting between Lua tables and Python objects)?

Run: python bench/bench_json_path.py   (prints µs per operation, median of 5 runs)

The numbers decide rover-mt's design: see docs/architecture.md ("JSON path").
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rover_mt.worker.runtime import AppSource, LuaApp  # noqa: E402

APP = b"""
local api = rover.server {}
function api.get() return {} end
return api
"""

SMALL = "{ message = 'Hello World', id = 7, ok = true }"
MEDIUM = ("{ id = 12345, name = 'Ada Lovelace', email = 'ada@example.com', age = 36, "
          "roles = { 'admin', 'author', 'reviewer' }, address = { city = 'London', zip = 'N1 9GU', "
          "street = '12 St James Square' }, active = true, score = 98.5, tags = { 'a', 'b', 'c', 'd' } }")
BODY = orjson.dumps({"id": 12345, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36,
                     "roles": ["admin", "author", "reviewer"],
                     "address": {"city": "London", "zip": "N1 9GU", "street": "12 St James Square"},
                     "active": True, "score": 98.5, "tags": ["a", "b", "c", "d"]})


def lua_to_py(v):
    if isinstance(v, (bytes, int, float, bool)) or v is None:
        return v.decode() if isinstance(v, bytes) else v
    items = list(v.items())
    if items and all(isinstance(k, int) for k, _ in items):
        return [lua_to_py(x) for _, x in sorted(items)]
    return {k.decode(): lua_to_py(x) for k, x in items}


def py_to_lua(lua, v):
    if isinstance(v, dict):
        return lua.table_from({k.encode(): py_to_lua(lua, x) for k, x in v.items()})
    if isinstance(v, list):
        return lua.table_from([py_to_lua(lua, x) for x in v])
    if isinstance(v, str):
        return v.encode()
    return v


def per_op(fn, n: int) -> float:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "app.lua"
        p.write_bytes(APP)
        for engine in ("lua54", "luajit"):
            app = LuaApp(AppSource.read(p), engine=engine)
            lua = app.lua
            json_mod = lua.globals()[b"rover"][b"json"]
            for label, src in (("small", SMALL), ("medium", MEDIUM)):
                make = lua.eval(f"function() return {src} end")
                tbl = make()
                enc_in_lua = lua.eval("function(make, enc) return enc(make()) end")
                a = per_op(lambda: enc_in_lua(make, json_mod[b"encode"]), 20000)
                b = per_op(lambda: orjson.dumps(lua_to_py(make())), 20000)
                print(f"{engine:6} encode {label:6}: in Lua {a:6.2f} µs | Lua->Python->orjson {b:6.2f} µs")
                del tbl
            dec_in_lua = lua.eval("function(dec, s) local t = dec(s); return t.id end")
            a = per_op(lambda: dec_in_lua(json_mod[b"decode"], BODY), 20000)
            b = per_op(lambda: py_to_lua(lua, orjson.loads(BODY)), 20000)
            print(f"{engine:6} decode 300B   : in Lua {a:6.2f} µs | orjson->Python->Lua {b:6.2f} µs")


if __name__ == "__main__":
    main()
