"""SPEC 15 end to end: /metrics families and labels, exact counting, the access log,
rover.log from Lua, and readiness."""

from __future__ import annotations

import http.client
import io
import json
import socket
import time

from prometheus_client.parser import text_string_to_metric_families

from rover_mt import Server
from rover_mt.observe.logger import Logger
from tests.helpers import write_app

APP = """
local api = rover.server {}
function api.users.p_id.get(ctx)
  rover.log.info("looked up user", ctx:params().id)
  return { id = ctx:params().id }
end
function api.fail.get() error("kaput", 0) end
return api
"""


def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, path)
    r = c.getresponse()
    return r.status, r.read()


def samples(port: int) -> dict[tuple[str, tuple], float]:
    _, body = get(port, "/metrics")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_every_request_once_by_template(tmp_path):
    path = write_app(tmp_path, APP)
    with Server(path, port=0, workers=2, docs=False, log_level="nope") as srv:
        for i in range(5):
            assert get(srv.port, f"/users/{i}")[0] == 200
        assert get(srv.port, "/nope")[0] == 404
        assert get(srv.port, "/users/1", "DELETE")[0] == 405
        assert get(srv.port, "/fail")[0] == 500
        # A malformed request is counted too.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        time.sleep(0.05)  # let the loop record the closed connection
        m = samples(srv.port)
    total = "rover_http_requests_total"
    assert m[(total, (("method", "GET"), ("route", "/users/{id}"), ("status", "200")))] == 5
    assert m[(total, (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert m[(total, (("method", "DELETE"), ("route", "/users/{id}"), ("status", "405")))] == 1
    assert m[(total, (("method", "GET"), ("route", "/fail"), ("status", "500")))] == 1
    assert sum(v for (n, lbl), v in m.items() if n == total and ("status", "400") in lbl) == 1
    # No raw path ever becomes a label.
    assert not any("/users/3" in str(lbl) for (_, lbl) in m)
    count = "rover_http_request_duration_seconds_count"
    assert m[(count, (("method", "GET"), ("route", "/users/{id}")))] == 5
    for gauge in ("rover_queue_depth", "rover_inflight_requests", "rover_busy_workers"):
        assert m[(gauge, ())] == 0
    assert m[("rover_open_connections", ())] >= 1
    assert ("rover_lua_memory_bytes", (("worker", "1"),)) in m
    assert any(n.startswith("process_") for n, _ in m)


def test_access_log_and_lua_log_lines(tmp_path):
    path = write_app(tmp_path, APP)
    stream = io.StringIO()
    logger = Logger(level="info", fmt="json", stream=stream)
    with Server(path, port=0, workers=1, docs=False, logger=logger) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/users/42", headers={"X-Request-Id": "rid-42"})
        assert conn.getresponse().read() == b'{"id":"42"}'
        conn.request("GET", "/fail", headers={"X-Request-Id": "rid-fail"})
        conn.getresponse().read()
        logger.flush(2)
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [r for r in lines if r.get("msg") == "access" and r.get("request_id") == "rid-42"]
    assert len(access) == 1
    a = access[0]
    assert (a["method"], a["path"], a["route"], a["status"], a["bytes"]) == \
        ("GET", "/users/42", "/users/{id}", 200, 11)
    assert a["duration_ms"] >= 0
    lua = [r for r in lines if r.get("msg") == "looked up user 42"]
    assert lua and lua[0]["request_id"] == "rid-42" and lua[0]["level"] == "info"
    err = [r for r in lines if r.get("level") == "error" and r.get("request_id") == "rid-fail"]
    assert err and "kaput" in err[0]["msg"] and err[0]["route"] == "/fail"


def test_sample_rate_zero_keeps_errors_only(tmp_path):
    path = write_app(tmp_path, APP)
    stream = io.StringIO()
    logger = Logger(level="info", fmt="text", sample_rate=0.0, stream=stream)
    with Server(path, port=0, workers=1, docs=False, logger=logger) as srv:
        for _ in range(20):
            get(srv.port, "/users/1")
        get(srv.port, "/fail")
        logger.flush(2)
    text = stream.getvalue()
    assert " access " not in text and "kaput" in text


def test_ready_is_503_while_stopping(tmp_path):
    path = write_app(tmp_path, APP)
    srv = Server(path, port=0, workers=1, docs=False, log_level="nope").start()
    try:
        assert get(srv.port, "/ready")[0] == 200
        srv.engine.closing = True  # what stop() sets first
        assert srv.engine.builtins.ready()[0] == 503
    finally:
        srv.engine.closing = False
        srv.stop()
