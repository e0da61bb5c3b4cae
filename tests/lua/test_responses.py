"""SPEC 5 and 6: what each return value and builder answers, through App.handle."""

from __future__ import annotations

import pytest

APP = """
local api = rover.server {}
function api.str.get() return "hi" end
function api.int.get() return 42 end
function api.flt.get() return 2.5 end
function api.intf.get() return 30.0 end
function api.bool.get() return true end
function api.none.get() end
function api.fn.get() return function() end end
function api.co.get() return coroutine.create(function() end) end
function api.tbl.get() return { a = 1, list = { 1, 2, 3 } } end
function api.empty.get() return {} end
function api.ea.get() return { list = rover.json.empty_array, n = rover.json.null } end
function api.nan.get() return { x = 0/0, y = 1/0, z = 30.0 } end
function api.keys.get() return { [1] = "a", [3] = "c" } end
function api.fkey.get() return { [1.5] = "x" } end
function api.badkey.get() return { [true] = 1 } end
function api.cycle.get() local t = {}; t.me = t; return t end
function api.deep.get() local t = {}; local c = t; for i = 1, 70 do c.n = {}; c = c.n end; return t end
function api.j.get() return api.json:status(201, { ok = true }) end
function api.jc.get() return api:json({ b = 2 }):header("X-A", "1"):header("Cache-Control", "no-store") end
function api.t.get() return api.text:status(202, "x") end
function api.tc.get() return api:text("y") end
function api.h.get() return api.html("<b>hi</b>") end
function api.ht.get() return api.html({ name = "<x>" }) [[<p>{{ name }}</p>]] end
function api.hs.get() return api.html:status(201, { n = 1 }) [[n={{ n }}]] end
function api.r.get() return api.redirect("/x") end
function api.rp.get() return api.redirect:permanent("/y") end
function api.rs.get() return api.redirect:status(307, "/z") end
function api.e.get() return api.error(401, "nope") end
function api.ec.get() return api:error(403, "forbidden") end
function api.nc.get() return api.no_content() end
function api.rw.get() return api.raw("\\0\\1\\2") end
function api.rws.get() return api.raw:status(206, "ab") end
function api.resp.get()
  return api.response { status = 418, headers = { ["X-T"] = "t" }, body = { tea = true } }
end
function api.resps.get() return api.response { status = 201, body = "made" } end
function api.badhdr.get() return api.text("x"):header("X-Bad", "a\\r\\nb") end
function api.badstatus.get() return api.json:status(700, {}) end
return api
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from rover_mt import App
    from tests.helpers import write_app

    path = write_app(tmp_path_factory.mktemp("resp"), APP)
    a = App.load(path, workers=2, docs=False, log_level="nope")
    yield a
    a.close()


@pytest.mark.parametrize("path,status,ctype,body", [
    ("/str", 200, "text/plain; charset=utf-8", b"hi"),
    ("/int", 200, "text/plain; charset=utf-8", b"42"),
    ("/flt", 200, "text/plain; charset=utf-8", b"2.5"),
    ("/bool", 200, "text/plain; charset=utf-8", b"true"),
    ("/t", 202, "text/plain; charset=utf-8", b"x"),
    ("/tc", 200, "text/plain; charset=utf-8", b"y"),
    ("/h", 200, "text/html; charset=utf-8", b"<b>hi</b>"),
    ("/ht", 200, "text/html; charset=utf-8", b"<p>&lt;x&gt;</p>"),
    ("/hs", 201, "text/html; charset=utf-8", b"n=1"),
    ("/rw", 200, "application/octet-stream", b"\0\1\2"),
    ("/rws", 206, "application/octet-stream", b"ab"),
    ("/resps", 201, "text/plain; charset=utf-8", b"made"),
])
def test_plain_bodies(app, path, status, ctype, body):
    r = app.handle("GET", path)
    assert (r.status, r.headers.get("content-type"), r.body) == (status, ctype, body)
    assert r.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("path,status,value", [
    ("/tbl", 200, {"a": 1, "list": [1, 2, 3]}),
    ("/empty", 200, {}),
    ("/ea", 200, {"list": [], "n": None}),
    ("/nan", 200, {"x": None, "y": None, "z": 30}),
    ("/keys", 200, {"1": "a", "3": "c"}),
    ("/fkey", 200, {"1.5": "x"}),
    ("/j", 201, {"ok": True}),
    ("/e", 401, {"error": "nope"}),
    ("/ec", 403, {"error": "forbidden"}),
    ("/resp", 418, {"tea": True}),
])
def test_json_bodies(app, path, status, value):
    r = app.handle("GET", path)
    assert r.status == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == value


def test_integral_float_is_an_integer(app):
    assert app.handle("GET", "/intf").body == b"30"
    assert b'"z":30' in app.handle("GET", "/nan").body


def test_nil_is_204_without_content_type(app):
    r = app.handle("GET", "/none")
    assert r.status == 204 and r.body == b"" and "content-type" not in r.headers
    r = app.handle("GET", "/nc")
    assert r.status == 204 and "content-type" not in r.headers


@pytest.mark.parametrize("path,kind", [("/fn", "function"), ("/co", "thread")])
def test_unsupported_return_types(app, path, kind):
    r = app.handle("GET", path)
    assert r.status == 500
    assert r.json() == {"error": f"Unsupported return type: {kind}"}


@pytest.mark.parametrize("path,needle", [
    ("/cycle", "cycle"), ("/deep", "64"), ("/badkey", "boolean"),
    ("/badhdr", "X-Bad"), ("/badstatus", "700"),
])
def test_bad_results_are_500_naming_the_problem(app, path, needle):
    r = app.handle("GET", path)
    assert r.status == 500
    assert needle in r.json()["error"]
    assert "\r" not in "".join(r.headers)


def test_header_chaining(app):
    r = app.handle("GET", "/jc")
    assert r.json() == {"b": 2}
    assert r.headers["x-a"] == "1" and r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path,status,location", [
    ("/r", 302, "/x"), ("/rp", 301, "/y"), ("/rs", 307, "/z"),
])
def test_redirects(app, path, status, location):
    r = app.handle("GET", path)
    assert (r.status, r.headers["location"], r.body) == (status, location, b"")


def test_every_response_has_date_length_and_request_id(app):
    r = app.handle("GET", "/str")
    assert r.headers["date"].endswith("GMT")
    assert r.headers["content-length"] == "2"
    assert r.headers["x-request-id"]
    r = app.handle("GET", "/str", {"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = app.handle("GET", "/str", {"X-Request-Id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
