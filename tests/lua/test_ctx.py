"""SPEC 4: the request context, and SPEC 3 routing as seen from a Lua app."""

from __future__ import annotations

import pytest

from rover_mt.worker.runtime import EAGER_BODY_BYTES

APP = """
local api = rover.server {}
function api.info.get(ctx)
  return { method = ctx.method, path = ctx.path, route = ctx.route,
           id = ctx.request_id, ip = ctx.client_ip, params = ctx:params() }
end
function api.users.p_id.get(ctx) return { id = ctx:params().id, route = ctx.route } end
function api.users.me.get(ctx) return { me = true } end
function api.users.p_id.posts.get(ctx) return { posts_of = ctx.params().id } end
api.files["p_*path"].get = function(ctx) return ctx:params() end
api["kebab-case"].get = function() return "kebab" end
function api.users.text.get() return "users-text" end
function api.q.get(ctx) return { last = ctx:query(), all = ctx.query_all() } end
function api.h.get(ctx)
  local h = ctx:headers()
  local names = {}
  for k in pairs(h) do names[#names + 1] = k end
  table.sort(names)
  return { auth = h.Authorization, ct = h["content-type"], ct2 = h.content_type,
           multi = h["x-multi"], names = names }
end
function api.body.post(ctx)
  local b = ctx:body()
  return { text = b:text(), raw = b:raw(), bytes = b:bytes(), json = b:json() }
end
function api.txt.post(ctx) return ctx:body():text() end
function api.same.get(ctx) return { same = ctx:query() == ctx:query() } end
function api.GeT_case.GET(ctx) return "upper method key" end
function api.pwrite.get(ctx)
  local p = ctx:params()
  local seen = p.mark
  p.mark = "x"
  return { seen = seen or "none", again = ctx:params().mark }
end
api.two.p_x.and_.p_y.get = function(ctx) return ctx:params() end
return api
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from rover_mt import App
    from tests.helpers import write_app

    a = App.load(write_app(tmp_path_factory.mktemp("ctx"), APP), workers=2, docs=False, log_level="nope")
    yield a
    a.close()


def test_ctx_fields(app):
    r = app.handle("GET", "/info", {"X-Request-Id": "req-1"})
    assert r.json() == {"method": "GET", "path": "/info", "route": "/info", "id": "req-1",
                        "ip": "127.0.0.1", "params": {}}


def test_static_beats_param_and_backtracking(app):
    assert app.handle("GET", "/users/me").json() == {"me": True}
    assert app.handle("GET", "/users/7").json() == {"id": "7", "route": "/users/{id}"}
    # /users/me exists but has no /posts child: backtrack to {id} = "me".
    assert app.handle("GET", "/users/me/posts").json() == {"posts_of": "me"}


def test_params_table_is_the_requests_own(app):
    # Written by one request, never seen by the next (on either worker or inline).
    for _ in range(40):
        assert app.handle("GET", "/pwrite").json() == {"seen": "none", "again": "x"}


def test_several_params_by_name(app):
    assert app.handle("GET", "/two/1/and_/%C3%A9").json() == {"x": "1", "y": "é"}


def test_params_are_percent_decoded_per_segment(app):
    assert app.handle("GET", "/users/a%2Fb").json()["id"] == "a/b"
    assert app.handle("GET", "/users/a+b").json()["id"] == "a+b"
    assert app.handle("GET", "/users/%C3%A9").json()["id"] == "é"
    assert app.handle("GET", "/users/%FF").status == 404


def test_catch_all_and_special_keys(app):
    assert app.handle("GET", "/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    assert app.handle("GET", "/files").status == 404
    assert app.handle("GET", "/kebab-case").body == b"kebab"
    assert app.handle("GET", "/users/text").body == b"users-text"
    assert app.handle("GET", "/GeT_case").body == b"upper method key"


def test_trailing_slash_and_empty_segments(app):
    assert app.handle("GET", "/info/").status == 404
    assert app.handle("GET", "/users//posts").status == 404


def test_query_parsing(app):
    r = app.handle("GET", "/q?a=1&b=x+y&b=%41&flag&e=").json()
    assert r["last"] == {"a": "1", "b": "A", "flag": "", "e": ""}
    assert r["all"] == {"a": ["1"], "b": ["x y", "A"], "flag": [""], "e": [""]}
    assert app.handle("GET", "/q").json() == {"last": {}, "all": {}}


def test_headers_are_lower_case_and_joined(app):
    r = app.handle("GET", "/h", [("Authorization", "Bearer t"), ("Content-Type", "a/b"),
                                 ("X-Multi", "1"), ("X-Multi", "2")]).json()
    assert r["auth"] == "Bearer t" and r["ct"] == "a/b" and r["ct2"] == "a/b"
    assert r["multi"] == "1, 2"
    assert r["names"] == ["authorization", "content-type", "x-multi"]


def test_body_value(app):
    r = app.handle("POST", "/body", {}, b'{"x":[1,null,2]}').json()
    assert r["text"] == r["raw"] == '{"x":[1,null,2]}'
    assert r["bytes"][:2] == [123, 34]
    assert r["json"] == {"x": [1, None, 2]}


def test_body_errors_are_400(app):
    r = app.handle("POST", "/body", {}, b"{bad")
    assert r.status == 400
    assert r.json()["error"].startswith("Invalid JSON in request body: ")
    r = app.handle("POST", "/txt", {}, b"")
    assert r.status == 400 and "body" in r.json()["error"].lower()


def test_binary_body_round_trips(app):
    assert app.handle("POST", "/txt", {}, b"\xff\x00abc").body == b"\xff\x00abc"


@pytest.mark.parametrize("size", [EAGER_BODY_BYTES, EAGER_BODY_BYTES + 1, 3 * EAGER_BODY_BYTES])
def test_bodies_handed_over_with_the_call_or_fetched_later_read_the_same(app, size):
    # Up to EAGER_BODY_BYTES the body comes with the handler call; larger ones are
    # fetched from Python when the handler reads them.
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert len(body) == size
    assert app.handle("POST", "/txt", {}, body).body == body


def test_ctx_values_are_cached(app):
    assert app.handle("GET", "/same?a=1").json() == {"same": True}


@pytest.mark.parametrize("method,path,status,allow", [
    ("DELETE", "/info", 405, "GET, HEAD, OPTIONS"),
    ("TRACE", "/info", 405, "GET, HEAD, OPTIONS"),
    ("PURGE", "/nowhere", 404, None),
    ("POST", "/users/7", 405, "GET, HEAD, OPTIONS"),
])
def test_method_errors(app, method, path, status, allow):
    r = app.handle(method, path)
    assert r.status == status
    if status == 405:
        assert r.headers["allow"] == allow
        assert r.json() == {"error": "Method Not Allowed"}
    else:
        assert r.body == b"Route not found"
        assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_head_runs_get_without_body(app):
    full = app.handle("GET", "/users/7")
    head = app.handle("HEAD", "/users/7")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == full.headers["content-length"]


def test_options_is_204_with_allow(app):
    r = app.handle("OPTIONS", "/body")
    assert r.status == 204 and r.headers["allow"] == "OPTIONS, POST"


def test_client_ip_from_a_trusted_proxy(make_app):
    app = make_app("local api = rover.server {}\n"
                   "function api.ip.get(ctx) return ctx.client_ip end\nreturn api\n",
                   proxy_headers=True, forwarded_allow_ips="10.0.0.0/8")
    fwd = {"X-Forwarded-For": "203.0.113.7"}
    assert app.handle("GET", "/ip", fwd, client_ip="10.0.0.2").body == b"203.0.113.7"
    assert app.handle("GET", "/ip", fwd, client_ip="192.0.2.1").body == b"192.0.2.1"
