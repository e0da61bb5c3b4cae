"""Run the examples of the Lua library docs, so the docs cannot rot.

Each example in docs/lua-*.md is a fenced block opened with ```lua run whose
code ends with `return <value>`, immediately followed by a ```json block with
the expected result. The value is encoded with rover.json.encode and compared
with the expected JSON as parsed values (key order is free).

The runtime comes from `make_docs_runtime`: a real worker runtime (the
sandbox, the whole `rover` table and a SharedStore), as handlers see it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from lua_harness import ENGINES

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
DOC_FILES = ["lua-json.md", "lua-guard.md", "lua-templates.md", "lua-shared.md"]
EXAMPLE = re.compile(r"```lua run\n(.*?)\n```\n```json\n(.*?)\n```", re.DOTALL)


def collect_examples() -> list[Any]:
    cases = []
    for name in DOC_FILES:
        text = (DOCS_DIR / name).read_text(encoding="utf-8")
        for match in EXAMPLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            cases.append(pytest.param(match.group(1), match.group(2), id=f"{name}:{line}"))
    return cases


EXAMPLES = collect_examples()


class ServerRuntime:
    """The docs run in a real worker runtime: the sandbox, the whole `rover` table
    and a real SharedStore, exactly what handlers see."""

    def __init__(self, engine: str, tmp_dir: Path) -> None:
        from rover_mt.worker.runtime import AppSource, LuaApp
        from rover_mt.worker.shared_store import SharedStore

        app = tmp_dir / "docs_app.lua"
        app.write_text("local api = rover.server {}\nreturn api\n")
        name = "luajit" if "jit" in engine else "lua54"
        self.app = LuaApp(AppSource.read(app), engine=name, shared_call=SharedStore().call)

    def run_json(self, code: str) -> object:
        lua = self.app.lua
        fn = lua.execute(b"return function(f) return rover.json.encode(f()) end")
        return orjson.loads(fn(lua.compile(code.encode("utf-8"))))


def make_docs_runtime(engine: str, tmp_dir: Path) -> ServerRuntime:
    """A worker runtime with a global `rover` holding .json .guard .html .shared;
    its app file goes in `tmp_dir` (pytest's tmp_path, which pytest prunes: a
    folder of our own per example left thousands behind in /tmp)."""
    return ServerRuntime(engine, tmp_dir)


def test_every_doc_file_has_examples():
    for name in DOC_FILES:
        assert EXAMPLE.search((DOCS_DIR / name).read_text(encoding="utf-8")), name


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize(("code", "expected"), EXAMPLES)
def test_doc_example(engine: str, code: str, expected: str, tmp_path: Path) -> None:
    runtime = make_docs_runtime(engine, tmp_path)
    assert runtime.run_json(code) == orjson.loads(expected)
