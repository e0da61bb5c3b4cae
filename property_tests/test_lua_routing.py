"""Issue 8 part 3: the routing properties through Lua.

Generated route tables are written as Lua apps (``lua_app_text``), loaded by the real
loader and served by ``App.handle`` (real router, engine and a Lua worker). Every
answer must agree with the reference model: status 200/404/405/204, ``ctx.route``,
``ctx:params()`` and ``Allow``. Tables the model calls conflicting must fail to load.

Starting an App costs ~0.1-0.3 s, so each generated table gets one App and several
requests, and the example budget is a fraction of the profile's.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import rover_mt
from rover_mt.routing import RouteSpec

from . import routing_model as model
from .lua_app_text import app_source, lua_string, route_lines, wire_path
from .routing_strategies import (
    REQUEST_METHODS,
    methods,
    paths_for,
    route_tables,
    shape_of,
    templates,
)

REQUESTS_PER_TABLE = 8
# 30 tables in the ci profile (200 examples), 750 in "thorough".
LUA_EXAMPLES = max(5, settings.default.max_examples * 3 // 20)
APP_SETTINGS = {"workers": 1, "docs": False, "metrics": False, "log_level": "nope"}

_file_numbers = itertools.count()


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lua_routing")


def write(folder: Path, source: str) -> Path:
    """A fresh file per app, so a failing example's app stays around to look at."""
    path = folder / f"app{next(_file_numbers)}.lua"
    path.write_text(source, encoding="utf-8")
    return path


def check_answer(response: rover_mt.Response, method: str, expected: model.Outcome) -> None:
    """Compare one App answer with the model's outcome for the same request."""
    has_body = method != "HEAD"
    if expected.kind == "not_found":
        assert response.status == 404
        if has_body:
            assert response.body == b"Route not found"
    elif expected.kind == "found":
        assert response.status == 200
        if has_body:
            assert response.json() == {"route": expected.template,
                                       "params": dict(expected.params)}
        else:
            assert response.body == b""
    elif expected.kind == "auto_options":
        assert response.status == 204
        assert response.headers.get("allow") == expected.allow
    else:
        assert response.status == 405
        assert response.headers.get("allow") == expected.allow
        if has_body:
            assert response.json() == {"error": "Method Not Allowed"}


def _draw_requests(data: st.DataObject, table: list[RouteSpec]) -> list[tuple[str, str]]:
    return [(data.draw(st.sampled_from(REQUEST_METHODS), label="method"),
             wire_path(data.draw(paths_for(table), label="path")))
            for _ in range(REQUESTS_PER_TABLE)]


@settings(max_examples=LUA_EXAMPLES)
@given(table=route_tables(), data=st.data())
# SPEC 3's own table, names differing at a shared position included.
@example(table=[RouteSpec("/", frozenset({"GET"})),
                RouteSpec("/hello", frozenset({"GET"})),
                RouteSpec("/users/{id}", frozenset({"GET"})),
                RouteSpec("/users/{uid}/posts/{pid}", frozenset({"DELETE"})),
                RouteSpec("/files/{*path}", frozenset({"GET"})),
                RouteSpec("/kebab-case", frozenset({"GET"}))],
         data=[("GET", "/users/7"), ("DELETE", "/users/1/posts/2"), ("GET", "/users/1/posts/2"),
               ("HEAD", "/files/a/b%2Fc"), ("OPTIONS", "/kebab-case"), ("GET", "/hello/"),
               ("PURGE", "/"), ("GET", "/users/caf%C3%A9")])
def test_lua_app_agrees_with_model(app_dir: Path, table: list[RouteSpec],
                                   data: st.DataObject | list[tuple[str, str]]) -> None:
    requests = data if isinstance(data, list) else _draw_requests(data, table)
    app = rover_mt.App.load(write(app_dir, app_source(table)), **APP_SETTINGS)
    try:
        for method, path in requests:
            expected = model.model_match(table, method, path)
            try:
                check_answer(app.handle(method, path), method, expected)
            except AssertionError as failure:
                raise AssertionError(f"{method} {path!r}: expected {expected}") from failure
    finally:
        app.close()


@st.composite
def lua_tables(draw: st.DrawFn) -> list[RouteSpec]:
    """Distinct templates whose names often clash; one spec per template, as in Lua."""
    chosen = draw(st.lists(templates(naming="clashing"), min_size=1, max_size=4, unique=True))
    return [RouteSpec(t, draw(methods), f"r{n}") for n, t in enumerate(chosen)]


@settings(max_examples=LUA_EXAMPLES)
@given(table=lua_tables())
@example(table=[RouteSpec("/users/{id}", frozenset({"GET"})),
                RouteSpec("/users/{name}", frozenset({"POST"}))])
@example(table=[RouteSpec("/users/{id}", frozenset({"GET"})),
                RouteSpec("/users/{name}/posts", frozenset({"POST"}))])
@example(table=[RouteSpec("/{id}/{id}", frozenset({"GET"}))])
def test_lua_app_loads_exactly_the_valid_tables(app_dir: Path, table: list[RouteSpec]) -> None:
    expected_conflict = model.is_conflicting(table)
    assert expected_conflict == (len({shape_of(s.template) for s in table}) < len(table)
                                 or any(model.parse(s.template) is None for s in table))
    path = write(app_dir, app_source(table))
    if expected_conflict:
        with pytest.raises(rover_mt.AppLoadError):
            rover_mt.App.load(path, **APP_SETTINGS).close()
    else:
        rover_mt.App.load(path, **APP_SETTINGS).close()


@pytest.mark.parametrize(("keys", "message"), [
    (["files", "p_*rest", "x"], "catch-all"),
    (["p_"], "no name"),
    (["a", "p_*"], "no name"),
])
def test_lua_syntax_errors_fail_to_load(app_dir: Path, keys: list[str], message: str) -> None:
    source = "\n".join(["local api = rover.server {}", *route_lines(keys, ["GET"]),
                        "return api"])
    with pytest.raises(rover_mt.AppLoadError, match=message):
        rover_mt.App.load(write(app_dir, source), **APP_SETTINGS)


def test_lua_string_escapes_round_trip(app_dir: Path) -> None:
    # The generated keys must reach Lua unchanged, or the properties test nothing.
    words = ["a", "é", "100%", "x y", "a+b", 'q"\\', "1\n2"]
    table = [RouteSpec("/" + w, frozenset({"GET"})) for w in words if "\n" not in w]
    app = rover_mt.App.load(write(app_dir, app_source(table)), **APP_SETTINGS)
    try:
        for spec in table:
            encoded = "".join(f"%{b:02X}" for b in spec.template[1:].encode("utf-8"))
            answer = app.handle("GET", "/" + encoded)
            assert answer.json()["route"] == spec.template
    finally:
        app.close()
    assert lua_string("1\n2") == '"1\\0102"'
