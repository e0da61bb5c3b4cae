"""A harness that loads the Lua library modules straight into lupa runtimes.

Every test here runs on both engines (Lua 5.4 and LuaJIT 2.1). The runtime is
assembled the way the lead's runtime factory does it: json first, then guard
and html with ``{json = json}`` as their dependency table, and a ``rover``
global carrying ``.json .guard .html .shared``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from lupa import lua54, luajit21

from rover_mt.worker.shared_store import SharedStore

LUA_DIR = Path(__file__).resolve().parents[2] / "rover_mt" / "lua"
ENGINES = {"lua54": lua54, "luajit": luajit21}


def load_module(runtime: Any, name: str, *args: Any) -> Any:
    """Run rover_mt/lua/<name>.lua as a chunk with ``args`` and return its result."""
    source = (LUA_DIR / f"{name}.lua").read_bytes()
    chunk = runtime.compile(source)
    return chunk(*args)


class LuaHarness:
    """A runtime with the library loaded and helpers to run Lua snippets."""

    def __init__(self, engine: Any, store: SharedStore | None = None) -> None:
        self.engine = engine
        self.is_jit = engine is luajit21
        self.runtime = engine.LuaRuntime(
            encoding=None, unpack_returned_tuples=True, register_eval=False
        )
        self.store = store or SharedStore()
        rt = self.runtime
        json = load_module(rt, "json")
        deps = rt.table_from({b"json": json})
        guard = load_module(rt, "guard", deps)
        html = load_module(rt, "html", deps)
        shared = load_module(rt, "shared")(self.store.call)
        rover = rt.table_from({b"json": json, b"guard": guard, b"html": html, b"shared": shared})
        g = rt.globals()
        g.rover = rover
        loaded = rt.eval(b"package.loaded")
        loaded[b"cjson"] = json.new_cjson(False)
        loaded[b"cjson.safe"] = json.new_cjson(True)
        self.json, self.guard, self.html = json, guard, html

    def run(self, code: str | bytes) -> Any:
        """Execute a Lua chunk and return its (first) result as lupa gives it."""
        if isinstance(code, str):
            code = code.encode("utf-8")
        return self.runtime.execute(code)

    def run_json(self, code: str | bytes) -> Any:
        """Execute a chunk and return its result passed through rover.json.encode."""
        if isinstance(code, str):
            code = code.encode("utf-8")
        fn = self.runtime.execute(b"return function(f) return rover.json.encode(f()) end")
        body = self.runtime.compile(code)
        return orjson.loads(fn(body))

    def error_of(self, code: str | bytes) -> Any:
        """Run a chunk that must raise; return the error value (strings decoded)."""
        if isinstance(code, str):
            code = code.encode("utf-8")
        wrapper = self.runtime.execute(b"return function(f) return pcall(f) end")
        ok, err = wrapper(self.runtime.compile(code))
        assert not ok, "expected a Lua error"
        return err.decode("utf-8") if isinstance(err, bytes) else err
