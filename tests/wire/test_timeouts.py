"""Connection deadlines over real sockets, with short settings.

Each test checks both sides of a deadline: the connection is still open before
it (a lower bound that cannot be flaky) and closed within it plus the sweep
interval plus generous slack for a loaded machine.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rover_mt import Server
from rover_mt.net.listener import SWEEP_INTERVAL
from tests.helpers import write_app
from tests.wire.test_edge_support import connect, parse_responses

APP = """
local api = rover.server {}
function api.up.post(ctx) return #ctx:body():raw() end
function api.hi.get(ctx) return "hi" end
function api.big.get(ctx) return string.rep("x", 8 * 1024 * 1024) end
return api
"""
LIMIT = 0.6  # every timeout under test
SLACK = SWEEP_INTERVAL + 1.5


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app = write_app(Path(tmp_path_factory.mktemp("timeouts")), APP)
    with Server(app, port=0, workers=2, docs=False, log_level="nope", header_timeout=LIMIT,
                body_timeout=LIMIT, keepalive_timeout=LIMIT, send_timeout=LIMIT,
                body_min_rate=2000, max_output_buffer=64 * 1024) as server:
        yield server


def closed_now(sock: socket.socket) -> bool:
    """True when the server has closed (EOF or reset); never blocks."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)
    return data == b""


def trickle_until_closed(sock: socket.socket, data: bytes, every: float, limit: float) -> float:
    """Send `data` a byte at a time every `every` s; return when the server closed."""
    start = time.monotonic()
    for i in range(len(data)):
        try:
            sock.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        time.sleep(every)
        if closed_now(sock):
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            break
    return float("inf")


def test_header_deadline_counts_from_the_first_byte(srv: Server) -> None:
    # One byte every 0.1 s: never idle, but the head is never done.
    with connect(srv.port) as sock:
        took = trickle_until_closed(sock, b"GET / HTTP/1.1\r\n" + b"X-a: b\r\n" * 100, 0.1, LIMIT + SLACK + 2)
    assert LIMIT <= took <= LIMIT + SLACK, took


def test_body_idle_deadline(srv: Server) -> None:
    with connect(srv.port) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        start = time.monotonic()
        time.sleep(LIMIT * 0.5)
        assert not closed_now(sock)
        sock.settimeout(LIMIT + SLACK + 2)
        try:
            assert sock.recv(100) == b""  # a silent close, no response
        except ConnectionResetError:
            pass
        took = time.monotonic() - start
    assert LIMIT <= took + 0.01 <= LIMIT + SLACK, took


def test_body_minimum_rate(srv: Server) -> None:
    # 20 bytes/s, never idle for long, far below body_min_rate: closed once the
    # body has run for body_timeout, not after the 1000 s the upload would take.
    with connect(srv.port) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n")
        took = trickle_until_closed(sock, b"x" * 20000, 0.05, LIMIT + SLACK + 2)
    assert LIMIT <= took <= LIMIT + SLACK, took


def test_body_at_a_fair_rate_is_accepted(srv: Server) -> None:
    # 12 KB over ~1.2 s (10 KB/s, above body_min_rate) outlives body_timeout.
    with connect(srv.port) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 12000\r\n\r\n")
        for _ in range(12):
            sock.sendall(b"y" * 1000)
            time.sleep(0.1)
        sock.settimeout(5)
        buf = b""
        while not parse_responses(buf)[0]:
            chunk = sock.recv(4096)
            assert chunk, "closed before answering"
            buf += chunk
    assert parse_responses(buf)[0][0].body == b"12000"


def test_keepalive_idle_is_a_silent_close(srv: Server) -> None:
    with connect(srv.port) as sock:
        sock.sendall(b"GET /hi HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.settimeout(5)
        buf = sock.recv(4096)
        assert parse_responses(buf)[0][0].body == b"hi"
        start = time.monotonic()
        time.sleep(LIMIT * 0.5)
        assert not closed_now(sock)
        sock.settimeout(LIMIT + SLACK + 2)
        assert sock.recv(4096) == b""  # nothing is sent before the close
        took = time.monotonic() - start
    assert LIMIT <= took + 0.01 <= LIMIT + SLACK, took


def test_send_timeout_drops_a_client_that_never_reads(srv: Server) -> None:
    def open_count() -> int:
        return srv.engine.call_in_loop(lambda: len(srv.listener.connections))

    before = open_count()
    sock = connect(srv.port)
    try:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.3)
        assert open_count() == before + 1
        # 8 MB answer, nobody reads it: past send_timeout the server gives up.
        deadline = time.monotonic() + LIMIT + SLACK + 2
        while open_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_count() == before
    finally:
        sock.close()
