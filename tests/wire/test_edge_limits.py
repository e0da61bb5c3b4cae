"""Edge behaviour of the network layer that the corpus cannot show: answers sent
before the body is read, trailers kept out of headers, bounded pipelining floods,
max_connections, and close paths that leave nothing behind."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rover_mt import Server
from rover_mt.net.connection import LINGER_TIMEOUT
from rover_mt.protocol import available_backends
from tests.helpers import write_app
from tests.wire.test_edge_support import (
    SLOW_ROUTE, Canary, catch_all_app, connect, exchange, open_fds, parse_responses, wait_fds,
)

ECHO_APP = """
local api = rover.server {}
function api.headers.post(ctx)
  local out = {}
  for k, v in pairs(ctx:headers()) do out[k] = v end
  return { headers = out, body = ctx:body():text() }
end
""" + SLOW_ROUTE + """
function api.big.p_n.get(ctx) return string.rep("x", tonumber(ctx:params().n)) end
return api
"""


def call_in_loop(srv: Server, fn):  # noqa: ANN001, ANN201 - test helper
    return srv.engine.call_in_loop(fn)


@pytest.fixture(params=available_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def echo_server(tmp_path: Path, backend: str) -> Iterator[Server]:
    with Server(write_app(tmp_path, ECHO_APP), port=0, workers=2, docs=False, log_level="nope",
                http=backend, max_body_size=4096) as srv:
        yield srv


def test_413_is_sent_before_the_body(echo_server: Server) -> None:
    with connect(echo_server.port) as sock:
        sock.sendall(b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n")
        data = sock.recv(65536)  # no body byte was sent: the answer must not wait for it
    responses, _ = parse_responses(data)
    assert [r.status for r in responses] == [413]
    assert responses[0].headers["connection"] == "close"


@pytest.mark.parametrize("head", [
    b"HEAD /headers HTTP/1.1\r\n\r\n",  # refused by the plain-head reader: no Host
    b"HEAD /head\x00ers HTTP/1.1\r\nHost: a\r\n\r\n",  # refused by the head scanner
])
def test_a_refused_head_request_gets_its_error_without_a_body(echo_server: Server, head: bytes) -> None:
    # Found by test_edge_fuzz: a client that sent HEAD reads no body after the
    # head, so a body would be taken for the start of a next response.
    ex = exchange(echo_server.port, [head], head_methods=[True], half_close=True)
    assert ex.closed and [r.status for r in ex.responses] == [400]
    assert int(ex.responses[0].headers["content-length"]) > 0
    assert ex.rest == b""


def test_413_survives_a_client_that_keeps_sending(echo_server: Server) -> None:
    # The client streams its body regardless; the server must not reset the
    # connection (which would destroy the 413 before the client reads it).
    head = b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 600000\r\n\r\n"
    writes = [head] + [b"x" * 60000] * 10
    ex = exchange(echo_server.port, writes)
    assert [r.status for r in ex.final] == [413]
    assert ex.closed


def test_100_continue_is_skipped_when_refusing(echo_server: Server) -> None:
    head = b"POST /headers HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 9999\r\n\r\n"
    ex = exchange(echo_server.port, [head])
    assert [r.status for r in ex.responses] == [413]


def test_trailers_never_become_headers(echo_server: Server) -> None:
    req = (b"POST /headers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n0\r\nX-Trailer: evil\r\nX-Other: 1\r\n\r\n")
    ex = exchange(echo_server.port, [req], want=1)
    (resp,) = ex.final
    assert resp.status == 200, resp
    import orjson

    doc = orjson.loads(resp.body)
    assert doc["body"] == "abc"
    assert "x-trailer" not in doc["headers"] and "x-other" not in doc["headers"]


def test_pipelining_flood_is_bounded_and_answered_in_order(tmp_path: Path, backend: str) -> None:
    cap = 16 * 1024
    n = 1500  # 12 MB of answers: more than the kernel buffers take (~4 MB here)
    reqs = b"".join(b"GET /big/8000 HTTP/1.1\r\nHost: a\r\nX-Request-Id: r%d\r\n\r\n" % i for i in range(n))
    with Server(write_app(tmp_path, ECHO_APP), port=0, workers=2, docs=False, log_level="nope",
                http=backend, max_output_buffer=cap) as srv:
        sock = connect(srv.port, timeout=10)
        sender = threading.Thread(target=sock.sendall, args=(reqs,), daemon=True)
        sender.start()
        time.sleep(1.0)  # the client reads nothing meanwhile

        def inspect() -> list[tuple[int, bool, int]]:
            return [(c.transport.get_write_buffer_size(), c.read_paused, c.state)
                    for c in srv.listener.connections if c.transport is not None]

        (size, paused, _state), = call_in_loop(srv, inspect)
        assert paused, "reading must pause while the output is over the cap"
        assert size <= cap + 8000 + 512, f"unsent output {size} grew past the cap plus one answer"
        # Now read everything: each request is answered, in order.
        buf, got = b"", []
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            chunk = sock.recv(1 << 20)
            assert chunk, "server closed the connection"
            more, buf = parse_responses(buf + chunk)
            got += more
        sender.join(5)
        sock.close()
    assert len(got) == n
    assert [r.headers["x-request-id"] for r in got] == [f"r{i}" for i in range(n)]


def test_accepting_pauses_at_max_connections(tmp_path: Path) -> None:
    with Server(catch_all_app(tmp_path), port=0, workers=2, docs=False, log_level="nope",
                max_connections=3) as srv:
        held = [connect(srv.port) for _ in range(3)]
        for s in held:  # make sure all three are accepted and served
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert parse_responses(s.recv(4096))[0][0].status == 200
        extra = connect(srv.port)  # completes in the kernel backlog, not accepted
        extra.sendall(b"GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
        extra.settimeout(0.6)
        with pytest.raises(socket.timeout):
            extra.recv(4096)
        assert call_in_loop(srv, lambda: len(srv.listener.connections)) == 3
        held.pop().close()  # one slot frees: the waiting connection is accepted
        extra.settimeout(5)
        responses, _ = parse_responses(extra.recv(4096))
        assert responses and responses[0].status == 200
        for s in held + [extra]:
            s.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_result_of_a_gone_client_never_reaches_a_new_connection(tmp_path: Path, backend: str) -> None:
    with Server(write_app(tmp_path, ECHO_APP), port=0, workers=1, docs=False, log_level="nope",
                http=backend) as srv:
        for _ in range(3):
            gone = connect(srv.port)
            gone.sendall(b"GET /slow?s=0.3 HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.05)
            _reset(gone)
            # The server likely gets the same descriptor number for this one.
            with connect(srv.port) as fresh:
                fresh.sendall(b"GET /big/4 HTTP/1.1\r\nHost: a\r\n\r\n")
                fresh.settimeout(5)
                buf = b""
                while not parse_responses(buf)[0]:
                    buf += fresh.recv(4096)
                fresh.settimeout(0.5)  # the slow result is due now; nothing more may come
                try:
                    more = fresh.recv(4096)
                except socket.timeout:
                    more = b""
                responses, rest = parse_responses(buf + more)
                assert [r.body for r in responses] == [b"xxxx"] and not rest


def test_every_close_path_returns_descriptors(tmp_path: Path, backend: str) -> None:
    baseline = open_fds()
    srv = Server(write_app(tmp_path, ECHO_APP), port=0, workers=2, docs=False, log_level="nope",
                 http=backend, keepalive_timeout=0.3, header_timeout=0.5, body_timeout=0.5)
    srv.start()
    clients: list[socket.socket] = []
    try:
        # FIN after a response, RST mid-head, RST mid-body, RST while the handler runs.
        ex = exchange(srv.port, [b"GET /big/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"])
        assert ex.closed and ex.final[0].status == 200
        for data in (b"GET /x HTTP/1.1\r\nHo",
                     b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab",
                     b"GET /slow?s=0.3 HTTP/1.1\r\nHost: a\r\n\r\n"):
            s = connect(srv.port)
            s.sendall(data)
            time.sleep(0.05)
            _reset(s)
        # Timeouts (header, body, keep-alive) and a protocol error.
        accepted = call_in_loop(srv, lambda: srv.listener.accepted)
        for data in (b"GET / HTTP/1.1\r\n", b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                     b"GET /big/1 HTTP/1.1\r\nHost: a\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"):
            s = connect(srv.port)
            s.sendall(data)
            clients.append(s)
        # Accepting is asynchronous: wait until the server has all four before
        # waiting for them to go, or the count below could read 0 too early.
        until = time.monotonic() + 5
        while call_in_loop(srv, lambda: srv.listener.accepted) < accepted + 4 and time.monotonic() < until:
            time.sleep(0.02)
        time.sleep(0.05)
        # Header/body/keep-alive deadlines are 0.5 s; the refused one lingers up to
        # LINGER_TIMEOUT waiting for our close, which never comes.
        deadline = time.monotonic() + LINGER_TIMEOUT + 2.0
        while call_in_loop(srv, lambda: len(srv.listener.connections)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert call_in_loop(srv, lambda: len(srv.listener.connections)) == 0
        for s in clients:
            s.close()
        clients = []
        # Shutdown with connections in every state still open.
        for data in (b"", b"GET / HTTP/1.1\r\n", b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                     b"GET /slow?s=0.2 HTTP/1.1\r\nHost: a\r\n\r\n"):
            s = connect(srv.port)
            if data:
                s.sendall(data)
            clients.append(s)
        time.sleep(0.1)
    finally:
        srv.stop()
    for s in clients:
        s.close()
    assert wait_fds(baseline) == baseline


def test_canary_unaffected_by_reset_storm(tmp_path: Path, backend: str) -> None:
    with Server(catch_all_app(tmp_path), port=0, workers=2, docs=False, log_level="nope",
                http=backend) as srv:
        canary = Canary(srv.port)
        for i in range(60):
            s = connect(srv.port)
            s.sendall([b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /a HTTP/1.1\r\n", b"\x00\xff garbage\r\n"][i % 3])
            _reset(s)
            if i % 10 == 0:
                canary.check()
        canary.check()
        canary.close()


def test_a_half_closed_client_with_a_cut_short_pipelined_request_is_closed(echo_server: Server) -> None:
    # The client half-closes while its first request runs (0.3 s), after the
    # head and part of the body of a second one: after the first answer the
    # second can never complete, so the server closes at once instead of
    # waiting for a body that cannot come (body_timeout).
    second = b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nfive!"
    t0 = time.monotonic()
    ex = exchange(echo_server.port, [b"GET /slow?s=0.3 HTTP/1.1\r\nHost: a\r\n\r\n" + second],
                  half_close=True, timeout=5)
    assert [r.body for r in ex.final] == [b"slow"]
    assert ex.closed
    assert time.monotonic() - t0 < 3
    assert ex.rest == b""


def test_client_reset_during_close_raises_nothing_on_the_loop(tmp_path: Path, backend: str) -> None:
    # Half-closed clients that reset while their answer is being written: the
    # server's FIN/close path must cope with a socket that is already gone.
    with Server(write_app(tmp_path, ECHO_APP), port=0, workers=2, docs=False, log_level="nope",
                http=backend) as srv:
        errors: list[object] = []
        loop = srv.engine.loop
        srv.engine.call_in_loop(lambda: loop.set_exception_handler(lambda _l, ctx: errors.append(ctx)))
        for i in range(30):
            s = connect(srv.port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /big/300000 HTTP/1.1\r\nHost: a\r\n\r\n" * 2)
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.002 * (i % 10))
            _reset(s)
        time.sleep(0.5)
        answer = exchange(srv.port, [b"GET /big/2 HTTP/1.1\r\nHost: a\r\n\r\n"], want=1)
        assert answer.final[0].body == b"xx"
        assert not errors, errors
