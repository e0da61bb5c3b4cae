"""The Lua sandbox (docs/sandbox.md) on both engines, through App.handle.

Each probe is a handler whose answer says what app code can reach; the tests
check that what was removed is gone (also through require and package.loaded),
that what is documented as kept still works, and that hostile values and error
objects come back as clean HTTP answers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rover_mt import App

ENGINES = ["lua54", "luajit"]

PROBE_APP = r"""
local api = rover.server {}

-- /t?e=<expr>: the type of an expression evaluated in the handler's environment.
function api.t.get(ctx)
  local expr = ctx:query().e
  local fn, err = load("return " .. expr, "=probe", "t", _ENV or getfenv(1))
  if not fn then return "compile error: " .. err end
  local ok, v = pcall(fn)
  if not ok then return "error: " .. tostring(v) end
  return type(v)
end

function api.require.get(ctx)
  local ok, v = pcall(require, ctx:query().m)
  if ok then return "loaded " .. type(v) end
  return "refused"
end

function api.binary.get(ctx)
  local fn, err = load("\27LuaR\0\1\4\8\4\8\0", "=bin")
  return fn and "loaded" or ("refused: " .. tostring(err))
end

function api.loadfn.get(ctx)
  local fn, err = load(function() return "return 1" end)
  return fn and "loaded" or "refused"
end

function api.strmeta.get(ctx)
  local mt = getmetatable("")
  local ok = pcall(setmetatable, "", {})
  local ok2 = pcall(function() mt.__index = {} end)
  return { mt = tostring(mt), set = ok, poke = ok2, rep = ("ab"):rep(2), up = ("x"):upper() }
end

function api.osfns.get(ctx)
  return { time = type(os.time()), clock = type(os.clock()), date = type(os.date("!%Y")),
           diff = os.difftime(2, 1) }
end

function api.pyattr.get(ctx)
  local out = {}
  for _, name in ipairs({ "__class__", "__dict__", "method", "body", "__init__" }) do
    local ok, v = pcall(function() return ctx._req[name] end)
    out[name] = ok and ("got " .. type(v)) or "refused"
  end
  local ok = pcall(function() ctx._req.method = "x" end)
  out.set = ok and "allowed" or "refused"
  return out
end

function api.badutf8.get(ctx) return "\255\254 bad \192" end
function api.badjson.get(ctx) return { ["k\255"] = "v\192\128", list = { "\237\160\128" } } end
function api.errtable.get(ctx) error({}) end
function api.errnil.get(ctx) error(nil) end
function api.errtostring.get(ctx) error(setmetatable({}, { __tostring = error })) end
function api.errtostring2.get(ctx) error(setmetatable({}, { __tostring = function() return {} end })) end
function api.errbadutf8.get(ctx) error("bad \255 bytes") end
function api.errstatus.get(ctx) error({ status = 418, message = "teapot \255" }) end
function api.errnumber.get(ctx) error(42) end
function api.errfunc.get(ctx) error(print) end
function api.errcoroutine.get(ctx) error(coroutine.create(function() end)) end
function api.ok.get(ctx) return "ok" end
return api
"""

REMOVED = [
    "io", "python", "dofile", "loadfile", "os.execute", "os.exit", "os.getenv", "os.remove",
    "os.rename", "os.tmpname", "os.setlocale", "string.dump", "package.loadlib",
    "debug.getinfo", "debug.sethook", "debug.getlocal", "debug.setupvalue", "debug.getregistry",
    "debug.setmetatable", "debug.getupvalue", "debug.upvalueid", "jit", "rawget(_G, 'python')",
    "package.loaded.io", "package.loaded.python", "package.loaded.ffi", "package.loaded.jit",
    "package.preload.ffi",
]
KEPT = {
    "os.time": "function", "os.clock": "function", "os.date": "function", "os.difftime": "function",
    "debug.traceback": "function", "string.format": "function", "table.concat": "function",
    "math.floor": "function", "coroutine.wrap": "function", "pcall": "function",
    "setmetatable": "function", "unpack": "function", "require": "function", "load": "function",
    "package.loaded.os": "table", "package.loaded.string": "table", "rover": "table",
}


@pytest.fixture(params=ENGINES)
def probe(request: pytest.FixtureRequest, make_app: Callable[..., App]) -> App:
    return make_app(PROBE_APP, workers=1, lua=request.param)


def text(app: App, path: str) -> str:
    resp = app.handle("GET", path)
    assert resp.status == 200, (path, resp.status, resp.body)
    return resp.text


@pytest.mark.parametrize("expr", REMOVED)
def test_removed(probe: App, expr: str) -> None:
    answer = text(probe, f"/t?e={expr}")
    assert answer == "nil" or answer.startswith("error: "), (expr, answer)


@pytest.mark.parametrize("expr,kind", sorted(KEPT.items()))
def test_kept(probe: App, expr: str, kind: str) -> None:
    assert text(probe, f"/t?e={expr}") == kind


@pytest.mark.parametrize("module", ["io", "os.execute", "python", "ffi", "jit", "debug", "lupa", "/etc/passwd",
                                    "../app", "socket", "jit.util"])
def test_require_cannot_reach_the_host(probe: App, module: str) -> None:
    answer = text(probe, f"/require?m={module}")
    if module in ("debug",):
        # package.loaded.debug is the restricted table (traceback only).
        assert answer == "loaded table"
        assert text(probe, "/t?e=require('debug').getinfo") == "nil"
    else:
        assert answer == "refused", module


def test_require_os_gives_the_restricted_table(probe: App) -> None:
    assert text(probe, "/t?e=require('os').execute") == "nil"
    assert text(probe, "/t?e=require('os').time") == "function"


def test_binary_chunks_and_function_loaders_are_refused(probe: App) -> None:
    assert text(probe, "/binary").startswith("refused")
    assert text(probe, "/loadfn") == "refused"


def test_string_metatable_is_protected(probe: App) -> None:
    doc = probe.handle("GET", "/strmeta").json()
    assert doc == {"mt": "false", "set": False, "poke": False, "rep": "abab", "up": "X"}


def test_os_keeps_time_functions(probe: App) -> None:
    assert probe.handle("GET", "/osfns").json() == {"time": "number", "clock": "number", "date": "string", "diff": 1}


def test_python_objects_refuse_attribute_access(probe: App) -> None:
    doc = probe.handle("GET", "/pyattr").json()
    assert doc == {"__class__": "refused", "__dict__": "refused", "method": "refused", "body": "refused",
                   "__init__": "refused", "set": "refused"}


def test_invalid_utf8_text_is_sent_as_bytes(probe: App) -> None:
    resp = probe.handle("GET", "/badutf8")
    assert resp.status == 200 and resp.body == b"\xff\xfe bad \xc0"


def test_invalid_utf8_in_json_does_not_crash(probe: App) -> None:
    resp = probe.handle("GET", "/badjson")
    assert resp.status == 200, resp
    # Invalid sequences become U+FFFD, so the body is always valid UTF-8 JSON.
    assert resp.json() == {"k\ufffd": "v\ufffd\ufffd", "list": ["\ufffd\ufffd\ufffd"]}


@pytest.mark.parametrize("path", ["/errtable", "/errnil", "/errtostring", "/errtostring2", "/errbadutf8",
                                  "/errnumber", "/errfunc", "/errcoroutine"])
def test_odd_error_values_give_a_clean_500(probe: App, path: str) -> None:
    resp = probe.handle("GET", path)
    assert resp.status == 500, (path, resp.body)
    doc = resp.json()
    assert isinstance(doc.get("error"), str)
    assert probe.handle("GET", "/ok").text == "ok"  # the worker survived


def test_error_table_with_status(probe: App) -> None:
    resp = probe.handle("GET", "/errstatus")
    assert resp.status == 418
    assert isinstance(resp.json()["error"], str)
