"""Handler deadlines on Lua 5.4: interrupted wherever the handler loops, 504 on
time, no worker lost, no hook left behind, and the memory limit."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time

import pytest

from rover_mt import Server
from rover_mt.worker.interrupt import hook_api
from tests.helpers import write_app

# Every fault route has its own 0.5 s deadline; the server default is long, so a
# per-route timeout that was ignored would show up as a client timeout.
FAULTS = """
local api = rover.server {}
local T = rover.route { timeout = 0.5 }
function api.ok.get(ctx) return { ok = true, worker = rover.worker.id } end
api.spin.get = T(function() while true do end end)
api.wrap.get = T(function() coroutine.wrap(function() while true do end end)() end)
api.resume.get = T(function()
  local co = coroutine.create(function() while true do end end)
  local ok, err = coroutine.resume(co)
  return { ok = ok, err = tostring(err) }   -- a timed-out resume must not let this return
end)
api.pcall.get = T(function()
  while true do pcall(function() while true do end end) end
end)
api.xpcall_handler.get = T(function()
  return xpcall(function() error("boom") end, function(m) while true do end end)
end)
api.nested.get = T(function()
  coroutine.wrap(function()
    local co = coroutine.create(function() pcall(function() while true do end end) end)
    coroutine.resume(co)
    while true do end
  end)()
end)
api.swallow.get = T(function()
  -- Catch the timeout and try to carry on: the interrupt fires again.
  local ok = pcall(function() while true do end end)
  local n = 0
  while true do n = n + 1 end
end)
api.near.get = rover.route { timeout = 0.05 } (function(ctx)
  local n = tonumber(ctx:query().n)
  local x = 0
  for i = 1, n do x = x + i % 3 end
  return { x = x }
end)
function api.busy.get(ctx)
  local x = 0
  for i = 1, tonumber(ctx:query().n) do x = x + i % 3 end
  return { x = x }
end
function api.gen.get(ctx)
  -- Normal coroutine use is unaffected by the wrappers.
  local gen = coroutine.wrap(function() for i = 1, 5 do coroutine.yield(i) end end)
  local sum = 0
  for v in gen do sum = sum + v end
  local co = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
  local _, one = coroutine.resume(co, 1)
  local _, two = coroutine.resume(co, 21)
  local okx, msg = xpcall(function() error("e1", 0) end, function(m) return "handled " .. m end)
  return { sum = sum, one = one, two = two, xp = msg, status = coroutine.status(co) }
end
api.forever.get = rover.route { timeout = 20 } (function() while true do end end)
return api
"""

FAULT_ROUTES = ["/spin", "/wrap", "/resume", "/pcall", "/xpcall_handler", "/nested", "/swallow"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = write_app(tmp_path_factory.mktemp("deadlines"), FAULTS)
    with Server(path, port=0, workers=2, handler_timeout=30, docs=False, log_level="nope") as srv:
        yield srv


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.monotonic()
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read(), time.monotonic() - t0
    finally:
        conn.close()


def hook_masks(server: Server) -> list[int]:
    """The Lua hook mask of every worker's main thread (0: no hook installed)."""
    api = hook_api("lua54")
    gid = server.engine.generation.id
    return [api.gethookmask(w.hooks[gid].main) for w in server.engine.pool.workers if w.hooks.get(gid)]


def interrupts(server: Server) -> int:
    return sum(w.interrupt.interrupts for w in server.engine.pool.workers)


@pytest.mark.parametrize("route", FAULT_ROUTES)
def test_looping_handler_is_interrupted_and_answers_504(server, route):
    before = interrupts(server)
    status, body, elapsed = get(server.port, route)
    assert status == 504
    assert body == b'{"error":"Handler timed out"}'
    assert elapsed < 0.5 + 1.0
    # The worker was interrupted, not replaced, and is free again.
    deadline = time.monotonic() + 5
    while any(w.current is not None for w in server.engine.pool.workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(w.current is None for w in server.engine.pool.workers)
    assert interrupts(server) == before + 1
    assert server.engine.pool.restarts == 0
    assert len(server.engine.pool.workers) == 2
    assert hook_masks(server) == [0, 0]
    for _ in range(20):
        assert get(server.port, "/ok")[0] == 200


def test_no_hook_is_installed_while_handlers_run_normally(server):
    masks: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            masks.extend(hook_masks(server))
            time.sleep(0.001)

    t = threading.Thread(target=watch)
    t.start()
    try:
        for _ in range(3):
            assert get(server.port, "/busy?n=2000000")[0] == 200
    finally:
        stop.set()
        t.join(5)
    assert masks and set(masks) == {0}


def test_coroutines_pcall_and_xpcall_work_as_usual(server):
    status, body, _ = get(server.port, "/gen")
    assert status == 200
    import json

    assert json.loads(body) == {"sum": 15, "one": 2, "two": 42, "xp": "handled e1", "status": "dead"}


def test_deadline_racing_the_handlers_return_never_breaks_a_worker(server):
    # Handlers that end just around their 50 ms deadline: the interrupt is often
    # armed as the handler returns. Every answer is 200 or 504 and nothing leaks.
    results: list[int] = []

    def client(n: int) -> None:
        for i in range(6):
            results.append(get(server.port, f"/near?n={n + i * 40000}")[0])

    threads = [threading.Thread(target=client, args=(n,)) for n in (100000, 300000, 500000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 18 and set(results) <= {200, 504}
    assert server.engine.pool.restarts == 0
    assert hook_masks(server) == [0, 0]
    for _ in range(20):
        assert get(server.port, "/ok")[0] == 200


def test_client_that_leaves_frees_its_worker_at_once(server):
    before = interrupts(server)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while not any(w.current is not None for w in server.engine.pool.workers):
        assert time.monotonic() < deadline, "the request never started"
        time.sleep(0.01)
    # An abortive close (RST): a plain FIN looks the same as a half-closed
    # client still waiting for its answer, which is kept until the deadline.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    # The route's deadline is 20 s away: only the disconnect can free the worker.
    deadline = time.monotonic() + 5
    while any(w.current is not None for w in server.engine.pool.workers):
        assert time.monotonic() < deadline, "the worker is still running the abandoned handler"
        time.sleep(0.01)
    assert interrupts(server) == before + 1
    assert server.engine.call_in_loop(lambda: len(server.engine._inflight)) == 0
    assert get(server.port, "/ok")[0] == 200


def test_server_wide_handler_timeout(tmp_path):
    path = write_app(tmp_path, """
        local api = rover.server {}
        function api.spin.get() while true do end end
        function api.ok.get() return "ok" end
        return api
    """)
    with Server(path, port=0, workers=1, handler_timeout=0.3, docs=False, log_level="nope") as srv:
        status, body, elapsed = get(srv.port, "/spin")
        assert (status, body) == (504, b'{"error":"Handler timed out"}')
        assert elapsed < 0.3 + 1.0
        assert get(srv.port, "/ok")[:2] == (200, b"ok")
        assert srv.engine.pool.restarts == 0


MEMORY = """
local api = rover.server {}
local hoard = {}
function api.burst.get()
  local t = {}
  for i = 1, 1e8 do t[i] = { i } end
end
function api.hoard.get()
  -- Keeps what it allocates: the runtime cannot recover and is rebuilt.
  for i = 1, 1e8 do hoard[#hoard + 1] = { i } end
end
function api.ok.get() return { n = #hoard } end
return api
"""


def test_memory_limit_answers_500_and_the_server_keeps_serving(tmp_path):
    path = write_app(tmp_path, MEMORY)
    with Server(path, port=0, workers=1, lua_memory_limit=16 * 1024 * 1024, docs=False,
                log_level="nope") as srv:
        status, body, _ = get(srv.port, "/burst")
        assert status == 500 and b"memory" in body
        assert get(srv.port, "/ok")[0] == 200
        assert srv.engine.pool.restarts == 0  # a GC was enough
        status, body, _ = get(srv.port, "/hoard")
        assert status == 500 and b"memory" in body
        assert srv.engine.pool.restarts == 1  # the runtime was rebuilt
        status, body, _ = get(srv.port, "/ok")
        assert (status, body) == (200, b'{"n":0}')  # a fresh runtime
        for _ in range(20):
            assert get(srv.port, "/ok")[0] == 200
