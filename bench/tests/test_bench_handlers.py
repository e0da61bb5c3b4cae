"""The shared Lua handlers give the answers the benchmark expects, on both engines."""

import json
import re

import pytest
from lua_bridge import LuaHandlers
from servers import ROVER_APP
from workloads import COMPUTE_ITERATIONS, CREATED_USER, INVALID_USER_BYTES, USER_BODY_BYTES, WORKLOADS, compute_expected


@pytest.fixture(scope="module", params=["lua54", "luajit21"])
def handlers(request):
    return LuaHandlers(engine=request.param)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_workload_answers_as_expected(handlers, name):
    workload = WORKLOADS[name]
    status, body = handlers.handle(workload.method, workload.path, workload.body)
    assert status == workload.expected_status
    assert json.loads(body) == workload.expected_json


def test_validation_drops_unknown_keys_and_fills_defaults(handlers):
    status, body = handlers.handle("POST", "/users", b'{"name":"a","email":"a@b","zzz":1}')
    assert status == 201
    assert json.loads(body) == {"name": "a", "email": "a@b", "age": 18, "role": "user"}
    assert "extra" not in json.loads(handlers.handle("POST", "/users", USER_BODY_BYTES)[1])
    assert json.loads(handlers.handle("POST", "/users", USER_BODY_BYTES)[1]) == CREATED_USER


def test_invalid_bodies_get_400(handlers):
    status, body = handlers.handle("POST", "/users", INVALID_USER_BYTES)
    assert status == 400
    fields = {error["field"] for error in json.loads(body)["errors"]}
    assert fields == {"name", "email", "age", "role"}
    assert handlers.handle("POST", "/users", b"{not json")[0] == 400
    assert handlers.handle("POST", "/users", b"[1, 2]")[0] == 400


def test_unknown_paths_get_404(handlers):
    assert handlers.handle("GET", "/nope", b"")[0] == 404
    assert handlers.handle("GET", "/users/", b"")[0] == 404
    assert handlers.handle("GET", "/users/1/x", b"")[0] == 404


def test_encoder_escapes_strings(handlers):
    status, body = handlers.handle("GET", '/users/a"b\\c\x01', b"")
    assert json.loads(body)["id"] == 'a"b\\c\x01'


def test_every_copy_of_the_compute_count_agrees():
    lua_sources = [(ROVER_APP.parent.parent / "handlers.lua").read_text(), ROVER_APP.read_text()]
    for source in lua_sources:
        counts = re.findall(r"COMPUTE_ITERATIONS\s*=\s*(\d+)", source)
        assert counts == [str(COMPUTE_ITERATIONS)]
    assert compute_expected(3) == {"result": ((0 * 31 + 1) * 31 + 2) * 31 + 3, "iterations": 3}
