"""SPEC 2/3: an app that cannot load is one clear error naming the file and line."""

from __future__ import annotations

import pytest

from rover_mt import App, AppLoadError, ConfigError
from tests.helpers import write_app


def load_error(tmp_path, source: str) -> str:
    path = write_app(tmp_path, source)
    with pytest.raises((AppLoadError, ConfigError)) as info:
        App.load(path, workers=1, docs=False, log_level="nope")
    return str(info.value)


def test_syntax_error_names_file_and_line(tmp_path):
    msg = load_error(tmp_path, "local api = rover.server {}\nfunction api.x.get(\nreturn api\n")
    assert "app.lua:3" in msg and "traceback" not in msg


def test_runtime_error_at_load(tmp_path):
    msg = load_error(tmp_path, "local api = rover.server {}\nerror('nope at load')\nreturn api\n")
    assert "app.lua:2" in msg and "nope at load" in msg


@pytest.mark.parametrize("ret", ["return 42", "return {}", "", "return rover"])
def test_must_return_the_server_table(tmp_path, ret):
    msg = load_error(tmp_path, f"local api = rover.server {{}}\n{ret}\n")
    assert "rover.server" in msg


@pytest.mark.parametrize("body,needle", [
    ("api.users.list = function() end", "api.users.list"),
    ("api.users.p_.get = function() end", "p_"),
    ("api[1] = {}", "string"),
    ("api.users.x = 5", "api.users.x"),
    ("api.users.get = {}", "api.users.get"),
    ("api.text.get = function() end", "reserved"),
    ("api.a.p_id.get = function() end\napi.a.p_name.get = function() end", "/a/{"),
    ("api.f['p_*rest'].more.get = function() end", "catch-all"),
])
def test_bad_route_tables(tmp_path, body, needle):
    msg = load_error(tmp_path, f"local api = rover.server {{}}\n{body}\nreturn api\n")
    assert needle in msg


def test_unknown_server_option_lists_known_ones(tmp_path):
    msg = load_error(tmp_path, "local api = rover.server { prot = 1 }\nreturn api\n")
    assert "prot" in msg and "port" in msg


def test_bad_setting_value_names_it(tmp_path):
    msg = load_error(tmp_path, "local api = rover.server { log_sample_rate = 2 }\nreturn api\n")
    assert "log_sample_rate" in msg


def test_missing_file(tmp_path):
    with pytest.raises(AppLoadError, match="no such file"):
        App.load(tmp_path / "absent.lua")


def test_app_options_become_settings(tmp_path):
    path = write_app(tmp_path, "local api = rover.server { workers = 3, expose_errors = false }\n"
                               "function api.get() return rover.worker.count end\nreturn api\n")
    with App.load(path, docs=False, log_level="nope") as app:
        assert app.config.workers == 3 and app.config.expose_errors is False
        assert app.handle("GET", "/").body == b"3"
    # Python arguments (like flags) win over the app.
    with App.load(path, workers=1, docs=False, log_level="nope") as app:
        assert app.handle("GET", "/").body == b"1"
    # ROVER_MT_* variables sit between the app and flags.
    with App.load(path, env={"ROVER_MT_WORKERS": "2"}, docs=False, log_level="nope") as app:
        assert app.handle("GET", "/").body == b"2"


def test_require_finds_app_modules(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "users.lua").write_text(
        "local M = {}\nfunction M.name(id) return 'user-' .. id end\nreturn M\n")
    path = write_app(tmp_path, "local users = require 'lib.users'\nlocal api = rover.server {}\n"
                               "function api.p_id.get(ctx) return users.name(ctx:params().id) end\n"
                               "function api.again.get() return tostring(require('lib.users') == users) end\n"
                               "return api\n")
    with App.load(path, workers=1, docs=False, log_level="nope") as app:
        assert app.handle("GET", "/7").body == b"user-7"
        assert app.handle("GET", "/again").body == b"true"


def test_cjson_compat(tmp_path):
    path = write_app(tmp_path, "local cjson = require 'cjson'\nlocal safe = require 'cjson.safe'\n"
                               "local api = rover.server {}\n"
                               "function api.get() local v, err = safe.decode('{bad')\n"
                               "  return { enc = cjson.encode({a = cjson.null}), bad = v == nil and err ~= nil } end\n"
                               "return api\n")
    with App.load(path, workers=1, docs=False, log_level="nope") as app:
        assert app.handle("GET", "/").json() == {"enc": '{"a":null}', "bad": True}


@pytest.mark.parametrize("opts,needle", [
    ("timeout = -1", "timeout must be a positive number"),
    ('inline = "no"', "inline must be true or false"),
])
def test_bad_route_options_name_the_option_and_line(tmp_path, opts, needle):
    msg = load_error(tmp_path, "local api = rover.server {}\n"
                               f"api.x.get = rover.route {{ {opts} }} (function() end)\nreturn api\n")
    assert needle in msg and "app.lua:2" in msg
