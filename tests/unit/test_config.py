"""Tests of the settings system: sources, parsing, ranges, flags and generated docs."""

import argparse
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rover_mt.config import (
    APP_OPTION_NAMES,
    SETTINGS,
    Config,
    ConfigError,
    add_arguments,
    check_app_options,
    configuration_page,
    flags_from_namespace,
    parse_ip_list,
    settings_markdown,
    unknown_env_vars,
)

REPO = Path(__file__).resolve().parents[2]
BY_NAME = {s.name: s for s in SETTINGS}

# The names SPEC section 14 requires (plus the ones the task adds).
REQUIRED = """host port workers processes lua http queue_bound backpressure backpressure_timeout_ms
handler_timeout graceful_timeout keepalive_timeout header_timeout body_timeout send_timeout
max_body_size max_request_line max_header_line max_headers max_header_bytes max_connections
max_output_buffer log_level log_format access_log log_sample_rate expose_errors docs docs_path
openapi_path metrics metrics_path health_path ready_path proxy_headers forwarded_allow_ips
lua_memory_limit max_stuck_workers reload""".split()


def error_of(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        Config.resolve(**kwargs)
    return str(info.value)


def parsed_flags(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return flags_from_namespace(parser.parse_args(list(argv)))


# --- the single definition ---------------------------------------------------


def test_every_required_setting_exists():
    assert set(REQUIRED) <= APP_OPTION_NAMES


def test_settings_are_exactly_the_config_fields():
    assert [f.name for f in dataclasses.fields(Config)] == [s.name for s in SETTINGS]
    assert APP_OPTION_NAMES == frozenset(s.name for s in SETTINGS)


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.name)
def test_setting_is_well_formed(s):
    assert s.type in (int, float, bool, str)
    assert type(s.default) is s.type
    assert s.env == "ROVER_MT_" + s.name.upper()
    assert s.flag == "--" + s.name.replace("_", "-")
    assert s.help.strip()
    if s.name.endswith("_timeout"):
        assert (s.type, s.unit) == (float, "seconds")
    if s.name.endswith("_ms"):
        assert (s.type, s.unit) == (int, "ms")
    if s.unit == "bytes":
        assert s.type is int
    if s.name.endswith("_path"):
        assert s.default.startswith("/")


def test_defaults_match_the_spec():
    c = Config()
    assert (c.host, c.port, c.lua, c.http, c.log_level, c.docs) == ("127.0.0.1", 4242, "lua54", "auto", "info", True)
    assert c.workers >= 2
    assert c.handler_timeout == 30 and c.graceful_timeout == 30 and c.keepalive_timeout == 5
    assert c.header_timeout == 10 and c.body_timeout == 10
    assert c.max_body_size == 1024 * 1024 and c.max_request_line == 8192 and c.max_header_line == 8192
    assert c.max_headers == 100 and c.max_header_bytes == 32768
    assert c.log_sample_rate == 1.0 and c.expose_errors is True and c.proxy_headers is False
    assert Config.resolve() == c


def test_config_is_frozen_and_replace_validates():
    c = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.port = 1  # type: ignore[misc]
    assert c.replace(port=8080).port == 8080 and c.port == 4242
    with pytest.raises(ConfigError, match="'port' from Python argument: must be an integer in \\[0, 65535\\], got 70000"):
        c.replace(port=70000)
    with pytest.raises(ConfigError, match="unknown setting.*prot"):
        c.replace(prot=1)


def test_direct_construction_validates_and_normalises():
    assert Config(host="localhost", lua="LuaJIT", port=80.0).host == "127.0.0.1"
    assert Config(lua="LuaJIT").lua == "luajit"
    assert type(Config(port=80.0).port) is int
    with pytest.raises(ConfigError, match="log_sample_rate"):
        Config(log_sample_rate=2)


# --- precedence ---------------------------------------------------------------


def test_later_sources_win():
    app = {"port": 1000, "workers": 3, "log_level": "debug", "docs": False}
    env = {"ROVER_MT_PORT": "2000", "ROVER_MT_WORKERS": "4"}
    flags = {"port": "3000", "log_level": None}
    c = Config.resolve(app=app, env=env, flags=flags)
    assert c.port == 3000  # flag beats env and app
    assert c.workers == 4  # env beats app
    assert c.log_level == "debug"  # a None flag means "not given"
    assert c.docs is False  # app beats default
    assert c.max_headers == 100  # default when nothing is given


def test_env_none_reads_nothing_and_other_variables_are_ignored():
    assert Config.resolve(env=None).port == 4242
    assert Config.resolve(env={"PORT": "1", "ROVER_MT_PORTX": "x"}).port == 4242


def test_flags_from_argparse_override_env():
    flags = parsed_flags("--port", "5000", "--no-docs", "--max-body-size", "2MiB", "--log-level", "WARNING")
    assert flags == {"port": "5000", "docs": False, "max_body_size": "2MiB", "log_level": "WARNING"}
    c = Config.resolve(env={"ROVER_MT_PORT": "1", "ROVER_MT_DOCS": "yes"}, flags=flags)
    assert (c.port, c.docs, c.max_body_size, c.log_level) == (5000, False, 2 * 1024 * 1024, "warn")


def test_unknown_flag_name_is_an_error():
    assert "nope_setting" in error_of(flags={"nope_setting": 1})


# --- parsing by type ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [(8080, 8080), (8080.0, 8080), ("8080", 8080), (" 8080 ", 8080), ("8080.0", 8080), ("8e3", 8000), ("8_080", 8080)],
)
def test_int_accepts_integral_values(raw, expected):
    value = Config.resolve(app={"port": raw}).port
    assert value == expected and type(value) is int


@pytest.mark.parametrize("raw", [2.5, "2.5", True, "abc", "", None, [], math.nan, math.inf, "inf"])
def test_int_rejects_the_rest(raw):
    message = error_of(app={"port": raw}, app_source="app.lua")
    assert message == f"setting 'port' from rover.server{{}} in app.lua: must be an integer in [0, 65535], got {raw!r}"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1KiB", 1024), ("2 MiB", 2 * 1024**2), ("1mib", 1024**2), ("1GiB", 1024**3), ("3KB", 3000),
        ("1MB", 1000**2), ("100b", 100), ("1.5KiB", 1536), (4096, 4096), (4096.0, 4096),
    ],
)
def test_sizes_accept_suffixes(raw, expected):
    assert Config.resolve(env={"ROVER_MT_MAX_BODY_SIZE": raw} if isinstance(raw, str) else None,
                          app=None if isinstance(raw, str) else {"max_body_size": raw}).max_body_size == expected


@pytest.mark.parametrize("raw", ["1XB", "KiB", "0.3KiB", "1 Mi B", "-1", "2GiB"])
def test_sizes_reject_bad_text(raw):
    message = error_of(env={"ROVER_MT_MAX_BODY_SIZE": raw})
    assert message == (
        f"setting 'max_body_size' from ROVER_MT_MAX_BODY_SIZE: must be a size in bytes in [0, 1073741824], got {raw!r}"
    )


def test_suffixes_only_for_sizes():
    assert "must be an integer" in error_of(env={"ROVER_MT_MAX_HEADERS": "1KiB"})


@pytest.mark.parametrize("raw, expected", [(0.5, 0.5), (1, 1.0), ("0.25", 0.25), (" 1 ", 1.0), (0, 0.0)])
def test_float_parsing(raw, expected):
    value = Config.resolve(app={"log_sample_rate": raw}).log_sample_rate
    assert value == expected and type(value) is float


@pytest.mark.parametrize("raw", ["nan", "NaN", math.nan, -0.1, "-1", 1.0001, "2", "inf", math.inf, True, "x", ""])
def test_log_sample_rate_rejects_nan_negative_and_over_one(raw):
    message = error_of(env={"ROVER_MT_LOG_SAMPLE_RATE": raw} if isinstance(raw, str) else None,
                       app=None if isinstance(raw, str) else {"log_sample_rate": raw})
    assert "setting 'log_sample_rate'" in message
    assert f"must be a number in [0, 1], got {raw!r}" in message


def test_spec_example_message():
    assert error_of(env={"ROVER_MT_LOG_SAMPLE_RATE": "nan"}) == (
        "setting 'log_sample_rate' from ROVER_MT_LOG_SAMPLE_RATE: must be a number in [0, 1], got 'nan'"
    )


@pytest.mark.parametrize(
    "word, expected",
    [("1", True), ("0", False), ("true", True), ("FALSE", False), ("yes", True), ("No", False),
     ("on", True), ("off", False), (" true ", True)],
)
def test_bool_words(word, expected):
    assert Config.resolve(env={"ROVER_MT_DOCS": word}).docs is expected
    assert Config.resolve(flags={"docs": word}).docs is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", 1, 0, 1.0, None])
def test_bool_rejects_the_rest(raw):
    message = error_of(app={"access_log": raw})
    assert message == (
        "setting 'access_log' from rover.server{}: must be a boolean (true/false, 1/0, yes/no, on/off), "
        f"got {raw!r}"
    )


def test_bool_from_lua_booleans():
    assert Config.resolve(app={"reload": True, "metrics": False}).reload is True


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("lua", "lua54", "lua54"), ("lua", "LUAJIT", "luajit"), ("lua", "lua5.4", "lua54"), ("lua", "5.4", "lua54"),
        ("lua", "jit", "luajit"), ("log_level", "warning", "warn"), ("log_level", "WARN", "warn"),
        ("log_level", "nope", "nope"), ("http", " H11 ", "h11"), ("backpressure", "shed", "shed"),
        ("log_format", "json", "json"),
    ],
)
def test_choices_are_case_insensitive_with_aliases(name, raw, expected):
    assert getattr(Config.resolve(app={name: raw}), name) == expected


@pytest.mark.parametrize("name, raw", [("lua", "lua53"), ("http", "h2"), ("log_level", "trace"), ("backpressure", 1)])
def test_choices_reject_the_rest(name, raw):
    choices = ", ".join(BY_NAME[name].choices)
    assert error_of(flags={name: raw}) == (
        f"setting '{name}' from flag {BY_NAME[name].flag}: must be one of: {choices}, got {raw!r}"
    )


def test_strings_reject_other_types():
    assert error_of(app={"docs_path": 5}) == "setting 'docs_path' from rover.server{}: must be a string, got 5"


# --- per-setting rules ------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [("localhost", "127.0.0.1"), ("LOCALHOST", "127.0.0.1"),
                                           ("::", "::"), ("[::1]", "::1"), ("example.org", "example.org")])
def test_host_normalisation(raw, expected):
    assert Config.resolve(app={"host": raw}).host == expected


@pytest.mark.parametrize("raw", ["", "a b", "http://x", "host/path"])
def test_host_rejects_junk(raw):
    assert "must be a host name or IP address" in error_of(app={"host": raw})


@pytest.mark.parametrize("name", [s.name for s in SETTINGS if s.name.endswith("_path")])
def test_paths_must_start_with_slash(name):
    assert f"setting '{name}'" in error_of(app={name: "docs"})
    assert "starting with '/'" in error_of(app={name: "docs"})
    assert "without spaces" in error_of(app={name: "/a b"})
    assert "without spaces" in error_of(app={name: "/a?b"})
    assert getattr(Config.resolve(app={name: "/x/y"}), name) == "/x/y"


def test_forwarded_allow_ips():
    c = Config.resolve(env={"ROVER_MT_FORWARDED_ALLOW_IPS": " 10.0.0.0/8 , 192.168.1.1,::1 "})
    assert c.forwarded_allow_ips == "10.0.0.0/8,192.168.1.1,::1"
    nets = parse_ip_list(c.forwarded_allow_ips)
    assert nets is not None and [str(n) for n in nets] == ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]
    assert parse_ip_list(Config.resolve(app={"forwarded_allow_ips": "*"}).forwarded_allow_ips) is None
    assert parse_ip_list(Config.resolve(app={"forwarded_allow_ips": ""}).forwarded_allow_ips) == ()
    assert "'nothost' is not one" in error_of(app={"forwarded_allow_ips": "1.2.3.4,nothost"})


def test_lua_memory_limit_zero_or_at_least_one_mib():
    assert Config.resolve(app={"lua_memory_limit": 0}).lua_memory_limit == 0
    assert Config.resolve(env={"ROVER_MT_LUA_MEMORY_LIMIT": "1MiB"}).lua_memory_limit == 1024**2
    message = error_of(env={"ROVER_MT_LUA_MEMORY_LIMIT": "1048575"})
    assert message == (
        "setting 'lua_memory_limit' from ROVER_MT_LUA_MEMORY_LIMIT: "
        "must be 0 (no limit) or at least 1048576 bytes (1 MiB), got '1048575'"
    )


def test_endpoint_paths_must_differ():
    message = error_of(app={"metrics_path": "/health"})
    assert message.startswith("settings 'metrics_path' (from rover.server{}) and 'health_path' (from default)")
    assert "'/health'" in message


def test_header_line_cannot_exceed_header_section():
    message = error_of(env={"ROVER_MT_MAX_HEADER_LINE": "65536"})
    assert "'max_header_line' (from ROVER_MT_MAX_HEADER_LINE)" in message
    assert "'max_header_bytes' (from default)" in message
    c = Config.resolve(env={"ROVER_MT_MAX_HEADER_LINE": "65536", "ROVER_MT_MAX_HEADER_BYTES": "65536"})
    assert c.max_header_line == c.max_header_bytes == 65536


# --- every range boundary ------------------------------------------------------

NUMERIC = [s for s in SETTINGS if s.type in (int, float)]


def with_companions(name: str, value) -> dict:
    """The value plus whatever other settings a cross-setting rule needs to accept it."""
    app = {name: value}
    if name == "max_header_line":
        app["max_header_bytes"] = BY_NAME["max_header_bytes"].max
    if name == "max_header_bytes":
        app["max_header_line"] = BY_NAME["max_header_line"].min
    return app


def below(s, bound):
    return bound - 1 if s.type is int else bound - 1e-6


def above(s, bound):
    return bound + 1 if s.type is int else bound + 1e-6


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_every_numeric_setting_has_a_range(s):
    assert s.min is not None and s.max is not None and s.min < s.max
    assert s.min <= s.default <= s.max


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_minimum_boundary(s):
    if s.min_exclusive:
        assert "(" in error_of(app=with_companions(s.name, s.type(s.min)))
        just_inside = s.min + 1e-3
        assert getattr(Config.resolve(app=with_companions(s.name, just_inside)), s.name) == just_inside
    else:
        assert getattr(Config.resolve(app=with_companions(s.name, s.type(s.min))), s.name) == s.min
        message = error_of(app=with_companions(s.name, below(s, s.min)))
        assert f"setting '{s.name}'" in message and "[" in message


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_maximum_boundary(s):
    assert getattr(Config.resolve(app=with_companions(s.name, s.type(s.max))), s.name) == s.max
    message = error_of(app=with_companions(s.name, above(s, s.max)))
    assert f"setting '{s.name}'" in message
    assert str(int(s.max)) + "]" in message


@given(st.integers(min_value=0, max_value=65535))
def test_any_port_in_range_round_trips_through_text(port):
    assert Config.resolve(env={"ROVER_MT_PORT": str(port)}).port == port


@given(st.floats(min_value=0.0, max_value=1.0))
def test_any_rate_in_range_round_trips_through_text(rate):
    assert Config.resolve(env={"ROVER_MT_LOG_SAMPLE_RATE": repr(rate)}).log_sample_rate == rate


# --- app options -------------------------------------------------------------


def test_unknown_app_option_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        check_app_options({"prot": 1, "port": 2}, source="app.lua")
    message = str(info.value)
    assert message.startswith("app.lua: unknown option 'prot' in rover.server{} (did you mean 'port'?)")
    assert "known options: " + ", ".join(sorted(APP_OPTION_NAMES)) in message
    assert "\n" not in message
    assert info.value.setting == "prot"


def test_unknown_app_option_in_resolve_and_non_string_keys():
    assert "unknown options 1, 'zzz'" in error_of(app={1: "x", "zzz": 2}, app_source="app.lua")
    check_app_options({"port": 1, "docs": False}, source="app.lua")  # known names pass


def test_unknown_env_vars_are_reported():
    env = {"ROVER_MT_PORT": "1", "ROVER_MT_PROT": "2", "HOME": "/"}
    assert unknown_env_vars(env) == ["ROVER_MT_PROT"]


def test_error_attributes():
    with pytest.raises(ConfigError) as info:
        Config.resolve(env={"ROVER_MT_PORT": "x"})
    assert isinstance(info.value, ValueError)
    assert (info.value.setting, info.value.source) == ("port", "ROVER_MT_PORT")


def test_long_bad_values_are_shortened_to_one_line():
    message = error_of(env={"ROVER_MT_PORT": "9" * 500 + "\nx"})
    assert "\n" not in message and len(message) < 200


# --- argparse ------------------------------------------------------------------


def test_every_setting_has_a_flag_defaulting_to_none():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args([])
    assert all(getattr(ns, s.name) is None for s in SETTINGS)
    assert flags_from_namespace(ns) == {}
    text = parser.format_help()
    for s in SETTINGS:
        assert s.flag in text and s.env in text
        if s.type is bool:
            assert "--no-" + s.flag[2:] in text


def test_bool_flags_both_ways():
    assert parsed_flags("--reload") == {"reload": True}
    assert parsed_flags("--no-access-log") == {"access_log": False}
    assert Config.resolve(app={"reload": True}, flags=parsed_flags("--no-reload")).reload is False


def test_bad_flag_value_names_the_flag():
    assert error_of(flags=parsed_flags("--handler-timeout", "0")) == (
        "setting 'handler_timeout' from flag --handler-timeout: must be a number in (0, 86400], got '0'"
    )


# --- generated docs --------------------------------------------------------------


def test_committed_docs_are_up_to_date():
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == configuration_page(), "regenerate: python -m rover_mt.config > docs/configuration.md"


def test_docs_list_every_setting():
    table = settings_markdown()
    for s in SETTINGS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{s.name}` |"))
        assert f"`{s.env}`" in row and f"`{s.flag}`" in row
    assert "| `port` | integer | `4242` | [0, 65535] |" in table
    assert "`1048576` (1 MiB)" in table
    assert "number of CPUs, at least 2" in table  # not this machine's count


def test_docs_module_prints_the_page():
    out = subprocess.run(
        [sys.executable, "-m", "rover_mt.config"], capture_output=True, text=True, timeout=60, cwd=REPO, check=True
    ).stdout
    assert out == configuration_page()


def test_two_configs_are_independent():
    a, b = Config.resolve(app={"port": 1}), Config.resolve(app={"port": 2})
    assert (a.port, b.port) == (1, 2)
