"""Graceful stop: SIGTERM/SIGINT on `rover-mt serve` and Server.stop().

In-flight and queued requests finish (answered with Connection: close), idle
keep-alive connections close at once, new connections are refused, the process
exits within graceful_timeout, and a second signal exits at once."""

from __future__ import annotations

import http.client
import signal
import socket
import threading
import time

import pytest

from rover_mt import Server
from tests.helpers import write_app
from tests.wire.test_overload import start_server

APP = """
local api = rover.server {}
function api.ok.get() return "ok" end
function api.work.get(ctx)
  local x = 0
  for i = 1, tonumber(ctx:query().n or 3000000) do x = x + i % 7 end
  return { x = x }
end
function api.forever.get() while true do end end
return api
"""


def fire(port: int, path: str, out: list, timeout: float = 30) -> threading.Thread:
    """Send one request on its own connection in a thread; append (status, headers)."""

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            out.append((r.status, r.getheader("Connection")))
        except Exception as exc:  # recorded, so the test shows what went wrong
            out.append((type(exc).__name__, None))
        finally:
            conn.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def app(tmp_path):
    return write_app(tmp_path, APP)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_inflight_and_queued_requests_then_exits(app, sig):
    proc, port = start_server(app, "--workers", "1", "--graceful-timeout", "20",
                              "--keepalive-timeout", "30")
    try:
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        idle.request("GET", "/ok")
        assert idle.getresponse().read() == b"ok"
        results: list = []
        # On 1 worker: a long request runs and 3 short ones wait in the queue when
        # the signal comes.
        threads = [fire(port, "/work?n=60000000", results)]
        time.sleep(0.1)
        threads += [fire(port, "/work?n=10000000", results) for _ in range(3)]
        time.sleep(0.1)
        t0 = time.monotonic()
        proc.send_signal(sig)
        # The idle keep-alive connection is closed at once (not after 30 s).
        idle.sock.settimeout(5)
        assert idle.sock.recv(1) == b""
        assert time.monotonic() - t0 < 3
        time.sleep(0.1)
        assert refused(port)
        for t in threads:
            t.join(30)
        assert results == [(200, "close")] * 4
        assert proc.wait(timeout=20) == 0
        assert refused(port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_exit_within_graceful_timeout_even_if_a_handler_never_ends(app):
    proc, port = start_server(app, "--workers", "1", "--graceful-timeout", "1",
                              "--handler-timeout", "60")
    try:
        results: list = []
        t = fire(port, "/forever", results, timeout=10)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 1 + 2.0
        t.join(10)
        assert results and results[0][0] != 200
    finally:
        if proc.poll() is None:
            proc.kill()


def test_second_signal_exits_at_once(app):
    proc, port = start_server(app, "--workers", "1", "--graceful-timeout", "60",
                              "--handler-timeout", "60")
    try:
        results: list = []
        fire(port, "/forever", results, timeout=10)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None  # still draining the never-ending request
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - t0 < 3
    finally:
        if proc.poll() is None:
            proc.kill()


def test_server_stop_in_process_drains_and_is_idempotent(app):
    srv = Server(app, port=0, workers=1, graceful_timeout=20, docs=False, log_level="nope").start()
    port = srv.port
    results: list = []
    threads = [fire(port, "/work?n=60000000", results)]
    time.sleep(0.1)
    threads += [fire(port, "/work?n=10000000", results) for _ in range(2)]
    time.sleep(0.1)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    for t in threads:
        t.join(30)
    stopper.join(30)
    assert results == [(200, "close")] * 3
    assert refused(port)
    srv.stop()  # again: no error
    assert not any(w.thread.is_alive() for w in srv.engine.pool.workers)
