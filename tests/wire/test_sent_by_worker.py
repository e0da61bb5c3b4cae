"""Answers a worker sends itself while the I/O thread sleeps (Engine._deliver,
HttpConnection.send_early): the client gets exactly what the loop would have
sent, in order, counted once, with the duration of the send rather than of the
loop's next wake-up."""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
from pathlib import Path

import pytest

from rover_mt import Server
from tests.helpers import metrics_text, write_app
from tests.wire.test_edge_support import parse_responses

APP = """
local api = rover.server {}
function api.work.get(ctx)
  local x = 0
  for i = 1, tonumber(ctx:query().n or "20000") do x = x + i % 7 end
  return { id = ctx:query().id, x = x }
end
return api
"""


@pytest.fixture
def srv(tmp_path: Path):
    # inline_handler_us = 0: every handler runs on a worker.
    with Server(write_app(tmp_path, APP), port=0, workers=2, inline_handler_us=0,
                docs=False, log_level="nope") as server:
        yield server


def lua_sum(n: int) -> int:
    return sum(i % 7 for i in range(1, n + 1))


def sample(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{prefix} not in /metrics")


def settled_count(port: int, prefix: str, expected: float) -> float:
    """The metric once it reaches `expected` (or after 5 s). A worker sends its
    answer before it hands the rest to the loop (Engine._deliver), so a client
    may read the answer and ask /metrics before the loop has counted it."""
    end = time.monotonic() + 5
    while True:
        value = sample(metrics_text(port), prefix)
        if value >= expected or time.monotonic() > end:
            return value
        time.sleep(0.01)


def test_one_at_a_time_the_worker_sends_and_each_is_counted_once(srv: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for i in range(40):
        conn.request("GET", f"/work?id={i}")
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read()) == {"id": str(i), "x": lua_sum(20000)}
    conn.close()
    text = metrics_text(srv.port)
    # With one request at a time the loop sleeps while the handler runs, so the
    # worker sends most answers; some find the loop awake (it was still finishing
    # the request when the worker answered).
    assert sample(text, "rover_sent_by_worker_total ") >= 20
    assert settled_count(srv.port, 'rover_http_requests_total{method="GET",route="/work",status="200"}',
                         40) == 40


def test_duration_is_measured_to_the_send(srv: Server) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET /work?id=1&n=10 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        # Nothing wakes the loop now but its watchdog (50 ms): the request is
        # counted then, with the time of the worker's send.
        time.sleep(0.3)
    text = metrics_text(srv.port)
    sent = sample(text, "rover_sent_by_worker_total ")
    total = sample(text, 'rover_http_request_duration_seconds_sum{method="GET",route="/work"}')
    assert sent == 1
    assert total < 0.03, total


def test_pipelined_requests_arriving_during_the_send_stay_in_order(srv: Server) -> None:
    """The second request comes at a random moment around the first one's
    answer: before it (pipelined, the loop sends), during the worker's send, or
    after it (the worker sent, the loop finishes the first request first)."""
    rng = random.Random(7)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for i in range(150):
            sock.sendall(b"GET /work?id=a%d&n=2000 HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            time.sleep(rng.choice([0, 0, 0.0001, 0.0003, 0.0006, 0.001]))
            sock.sendall(b"GET /work?id=b%d&n=10 HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            buf = b""
            while True:
                responses, _rest = parse_responses(buf)
                if len(responses) == 2:
                    break
                chunk = sock.recv(65536)
                assert chunk, f"closed after {buf!r}"
                buf += chunk
            assert [r.status for r in responses] == [200, 200]
            assert b'"id":"a%d"' % i in responses[0].body, responses
            assert b'"id":"b%d"' % i in responses[1].body, responses
    assert settled_count(srv.port, 'rover_http_requests_total{method="GET",route="/work",status="200"}',
                         300) == 300
