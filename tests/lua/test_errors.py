"""SPEC 9 (errors raised by handlers) and SPEC 10 (per-request globals)."""

from __future__ import annotations

import pytest

APP = """
local api = rover.server {}
function api.boom.get() error("boom") end
function api.plain.get() error("plain", 0) end
function api.teapot.get() error({ status = 418, message = "I'm a teapot" }) end
function api.nostatus.get() error({ message = "no status" }) end
function api.badstatus.get() error({ status = 99, message = "bad" }) end
function api.empty.get() error({}) end
function api.nilerr.get() error(nil) end
function api.weird.get() error(setmetatable({}, { __tostring = function() error("x") end })) end
function api.caught.get()
  local ok, err = pcall(error, "inner")
  return { ok = ok, err = err }
end
function api.glob.get(ctx)
  local before = leaked
  leaked = "set by a request"
  return { before = before, app_value = app_value }
end
function api.glob_own.get(ctx)
  -- The first write makes the request's own globals (rover.lua first_request_write);
  -- later reads and writes of the same request go there.
  local first_read = app_value
  app_value = "shadowed"
  counter = (counter or 0) + 1
  counter = counter + 1
  return { first_read = first_read, app_value = app_value, counter = counter }
end
app_value = "from load time"
function api.bad_utf8.get() return "\\255\\254" end
function api.bad_utf8_json.get() return { s = "\\255" } end
return api
"""


@pytest.fixture(scope="module", params=["lua54", "luajit"])
def app(request, tmp_path_factory):
    from rover_mt import App
    from tests.helpers import write_app

    a = App.load(write_app(tmp_path_factory.mktemp("err"), APP), workers=2, docs=False,
                 log_level="nope", lua=request.param)
    yield a
    a.close()


def test_uncaught_error_is_500_with_message_without_traceback(app):
    r = app.handle("GET", "/boom")
    assert r.status == 500
    assert r.json() == {"error": "app.lua:3: boom"}
    assert app.handle("GET", "/plain").json() == {"error": "plain"}


def test_error_table_with_status(app):
    r = app.handle("GET", "/teapot")
    assert (r.status, r.json()) == (418, {"error": "I'm a teapot"})


@pytest.mark.parametrize("path", ["/nostatus", "/badstatus", "/empty", "/nilerr", "/weird"])
def test_error_tables_without_valid_status_are_500(app, path):
    r = app.handle("GET", path)
    assert r.status == 500
    assert "error" in r.json()


def test_pcall_still_works(app):
    r = app.handle("GET", "/caught").json()
    assert r["ok"] is False and r["err"].endswith("inner")


def test_globals_do_not_leak_between_requests(app):
    for _ in range(4):  # both workers, several times
        r = app.handle("GET", "/glob").json()
        assert r == {"app_value": "from load time"}


def test_a_request_reads_its_own_global_writes(app):
    for _ in range(40):  # on the workers, then inline once the handler qualifies
        r = app.handle("GET", "/glob_own").json()
        assert r == {"first_read": "from load time", "app_value": "shadowed", "counter": 2}
        assert app.handle("GET", "/glob").json() == {"app_value": "from load time"}


def test_invalid_utf8_is_sent_as_bytes_or_replaced(app):
    assert app.handle("GET", "/bad_utf8").body == b"\xff\xfe"
    r = app.handle("GET", "/bad_utf8_json")
    assert r.status == 200 and r.json() == {"s": "\ufffd"}


def test_expose_errors_false(tmp_path):
    from rover_mt import App
    from tests.helpers import write_app

    path = write_app(tmp_path, APP)
    with App.load(path, workers=1, docs=False, log_level="nope", expose_errors=False) as a:
        assert a.handle("GET", "/boom").json() == {"error": "Internal Server Error"}
        # Deliberate statuses are still answered as raised.
        assert a.handle("GET", "/teapot").json() == {"error": "I'm a teapot"}
