"""An idle server sleeps: the watchdog, the connection sweep and the inline
guard stop when there is nothing to watch, and start again with the next
request or connection without losing a deadline.

Idle wake-ups matter beyond power: on a small machine, idle rover-mt processes
next to a busy one took its W3 throughput from 17.4k to 16.5k req/s
(bench/analysis.md).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rover_mt import Server
from rover_mt.net.listener import SWEEP_INTERVAL
from rover_mt.worker import inline as inline_module
from tests.helpers import write_app
from tests.wire.test_deadlines import get as timed_get
from tests.wire.test_inline import until_inline

APP = """
local api = rover.server {}
function api.fast.get(ctx)
  if ctx:query().spin then while true do end end
  return { worker = rover.worker.id }
end
api.pinned.get = rover.route { inline = false } (function(ctx)
  if ctx:query().spin then while true do end end
  return { worker = rover.worker.id }
end)
return api
"""
TIMEOUT = 0.5  # handler_timeout and keepalive_timeout


@pytest.fixture
def srv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The guard parks after 5 quiet checks (0.1 s) instead of 1 s, to keep the test short.
    monkeypatch.setattr(inline_module, "GUARD_PARK_AFTER", 5)
    app = write_app(tmp_path, APP)
    with Server(app, port=0, workers=2, handler_timeout=TIMEOUT, keepalive_timeout=TIMEOUT,
                inline_handler_us=150, docs=False, log_level="nope") as server:
        yield server


def get(port: int, path: str) -> tuple[int, dict, float]:
    status, body, took = timed_get(port, path)
    return status, json.loads(body), took


def wait_for(cond: Callable[[], bool], limit: float = 5.0) -> None:
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def quiet(server: Server) -> bool:
    """Nothing scheduled: no watchdog, no sweep, the inline guard asleep."""
    state = server.engine.call_in_loop(
        lambda: (server.engine._watchdog_timer, server.listener._sweeper), timeout=5)
    return state == (None, None) and server.engine.inline._parked


def wakeups(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/status") as f:
        return sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)


def test_idle_threads_do_not_wake(srv: Server) -> None:
    assert until_inline(srv.port, "/fast")[-1] == 0
    wait_for(lambda: quiet(srv))
    io_tid = srv.engine.call_in_loop(threading.get_native_id, timeout=5)
    guard_tid = srv.engine.inline._guard.native_id
    before = (wakeups(io_tid), wakeups(guard_tid))
    time.sleep(1.0)
    after = (wakeups(io_tid), wakeups(guard_tid))
    # Before: about 60 a second on the I/O thread (watchdog and sweep timers)
    # and 50 on the guard. The call_in_loop above may still be finishing.
    assert after[0] - before[0] <= 3 and after[1] - before[1] <= 3, (before, after)


def test_worker_deadline_after_a_quiet_spell(srv: Server) -> None:
    assert get(srv.port, "/pinned")[0] == 200
    wait_for(lambda: quiet(srv))
    status, body, took = get(srv.port, "/pinned?spin=1")  # the watchdog must start again
    assert (status, body) == (504, {"error": "Handler timed out"})
    assert TIMEOUT - 0.05 <= took < TIMEOUT + 1.0, took
    assert get(srv.port, "/pinned")[0] == 200


def test_inline_deadline_after_the_guard_parked(srv: Server) -> None:
    assert until_inline(srv.port, "/fast")[-1] == 0
    wait_for(lambda: quiet(srv))
    status, body, took = get(srv.port, "/fast?spin=1")  # spins on the I/O thread
    assert (status, body) == (504, {"error": "Handler timed out"})
    assert TIMEOUT - 0.05 <= took < TIMEOUT + 1.0, took
    status, body, _ = get(srv.port, "/fast")
    assert status == 200 and body["worker"] != 0  # demoted, the server goes on


def test_keepalive_deadline_after_the_sweep_stopped(srv: Server) -> None:
    wait_for(lambda: quiet(srv))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET /pinned HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        sock.settimeout(TIMEOUT + SWEEP_INTERVAL + 3)
        assert sock.recv(4096) == b""  # closed by the sweep, which started again
        took = time.monotonic() - start
    assert TIMEOUT - 0.05 <= took <= TIMEOUT + SWEEP_INTERVAL + 1.5, took
