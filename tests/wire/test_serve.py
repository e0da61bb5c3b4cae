"""A real Server on 127.0.0.1:0 over real sockets: framing, keep-alive, parallelism."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from rover_mt import Server
from tests.helpers import raw_exchange, split_responses, write_app

APP = """
local api = rover.server {}
function api.hello.get() return { message = "hi" } end
function api.echo.post(ctx) return ctx:body():text() end
function api.spin.get(ctx)
  local x = 0
  for i = 1, tonumber(ctx:query().n) do x = x + i % 7 end
  return { x = x, worker = rover.worker.id }
end
return api
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = write_app(tmp_path_factory.mktemp("serve"), APP)
    with Server(path, port=0, workers=2, docs=False, log_level="nope") as srv:
        yield srv


def test_keep_alive_serves_many_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(20):
        conn.request("GET", "/hello")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b'{"message":"hi"}')
    conn.close()


def test_pipelined_requests_answer_in_order(server):
    data = (b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nzz")
    out = split_responses(raw_exchange(server.port, data))
    assert [(s, b) for s, _, b in out] == [(200, b'{"message":"hi"}'), (200, b"abc"),
                                           (404, b"Route not found"), (200, b"zz")]
    assert out[-1][1]["connection"] == "close"


def test_http10_is_closed_after_response_unless_keep_alive(server):
    out = split_responses(raw_exchange(server.port, b"GET /hello HTTP/1.0\r\n\r\n"))
    assert out[0][0] == 200 and out[0][1]["connection"] == "close"
    data = raw_exchange(server.port, b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                        until_close=False, timeout=2)
    assert b"Connection: close" not in data and data.endswith(b'{"message":"hi"}')


def test_expect_100_continue(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        resp = sock.recv(1000)
        assert resp.startswith(b"HTTP/1.1 200 OK") and resp.endswith(b"data")


def test_chunked_request_body(server):
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert split_responses(raw_exchange(server.port, data))[0][2] == b"abcde"


def test_malformed_request_is_400_and_close(server):
    out = split_responses(raw_exchange(server.port, b"GET /hello HTTP/1.1\r\n\r\n"))
    assert out[0][0] == 400 and out[0][1]["connection"] == "close"
    assert out[0][1]["x-request-id"]


def test_builtin_health_and_ready(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for path in ("/health", "/ready"):
        conn.request("GET", path)
        r = conn.getresponse()
        assert (r.status, r.getheader("content-type")) == (200, "application/json")
        assert r.read().startswith(b'{"status":')


def test_handlers_run_in_parallel(tmp_path):
    """Two ~0.5 s pure-Lua handlers on two workers finish together, not one after the other."""
    path = write_app(tmp_path, APP)

    def timed(port, n, spin):
        results = []

        def one():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", f"/spin?n={spin}")
            results.append(c.getresponse().read())

        threads = [threading.Thread(target=one) for _ in range(n)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return time.monotonic() - start, results

    with Server(path, port=0, workers=2, docs=False, log_level="nope") as srv:
        spin, single = 1_000_000, 0.0
        while single < 0.4 and spin < 10**9:  # calibrate to this machine
            spin *= 2
            single, _ = timed(srv.port, 1, spin)
        attempts = []
        for _ in range(3):  # the machine is shared: one clean measurement is enough
            single, _ = timed(srv.port, 1, spin)
            # What two plain lupa threads get right now: ~1x on an idle 2-core machine.
            machine = _raw_lupa_pair_time(spin) / _raw_lupa_pair_time(spin, threads=1)
            double, results = timed(srv.port, 2, spin)
            assert len(results) == 2
            workers = {r.split(b'"worker":')[1][:1] for r in results}
            assert len(workers) == 2, results
            attempts.append((single, double, machine))
            # Serial execution would take 2x as long; the server must do as well as raw lupa.
            if double < single * max(1.6, machine * 1.25):
                return
    raise AssertionError(f"not parallel: (single, double, machine ratio) = {attempts}")


def _raw_lupa_pair_time(spin: int, threads: int = 2) -> float:
    import lupa.lua54

    code = "function(n) local x = 0; for i = 1, n do x = x + i % 7 end; return x end"
    fns = [lupa.lua54.LuaRuntime().eval(code) for _ in range(threads)]
    ts = [threading.Thread(target=f, args=(spin,)) for f in fns]
    start = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return time.monotonic() - start
