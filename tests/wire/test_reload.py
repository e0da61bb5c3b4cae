"""Hot reload: the new app is swapped in atomically for new requests, in-flight
ones finish on the old one, old runtimes are freed, a broken app is refused."""

from __future__ import annotations

import http.client
import io
import json
import threading
import time

from rover_mt import Server
from rover_mt.observe.logger import Logger
from rover_mt.reload import ReloadWatcher
from tests.helpers import write_app

VERSION = """
local api = rover.server {{}}
function api.v.get() return {{ v = {v} }} end
function api.slow.get()
  local x = 0
  for i = 1, 20000000 do x = x + i % 7 end
  return {{ v = {v} }}
end
return api
"""


def version(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v")
        r = conn.getresponse()
        assert r.status == 200
        return json.loads(r.read())["v"]
    finally:
        conn.close()


def test_twenty_reloads_under_load_drop_nothing_and_new_code_is_seen(tmp_path):
    path = write_app(tmp_path, VERSION.format(v=0))
    with Server(path, port=0, workers=2, docs=False, log_level="nope") as srv:
        failures: list = []
        seen: list[int] = []
        stop = threading.Event()

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            while not stop.is_set():
                try:
                    conn.request("GET", "/v")
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200:
                        failures.append((r.status, body))
                    else:
                        seen.append(json.loads(body)["v"])
                except Exception as exc:
                    failures.append(repr(exc))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for v in range(1, 21):
                path.write_text(VERSION.format(v=v))
                assert srv.reload() is True
                # Every request after the swap runs the new code.
                assert version(srv.port) == v
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        assert failures == []
        assert len(seen) > 20 and max(seen) == 20
        # Old runtimes are freed once their requests are done (idle workers too).
        deadline = time.monotonic() + 5
        while any(len(w.apps) != 1 for w in srv.engine.pool.workers):
            assert time.monotonic() < deadline, [list(w.apps) for w in srv.engine.pool.workers]
            time.sleep(0.05)
        gid = srv.engine.generation.id
        assert all(list(w.apps) == [gid] for w in srv.engine.pool.workers)


def test_inflight_request_finishes_on_the_old_app(tmp_path):
    path = write_app(tmp_path, VERSION.format(v=1))
    with Server(path, port=0, workers=2, docs=False, log_level="nope") as srv:
        out: list = []

        def slow() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
            conn.request("GET", "/slow")
            out.append(json.loads(conn.getresponse().read())["v"])
            conn.close()

        t = threading.Thread(target=slow)
        t.start()
        deadline = time.monotonic() + 5
        while not any(w.current is not None for w in srv.engine.pool.workers):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        path.write_text(VERSION.format(v=2))
        assert srv.reload()
        assert version(srv.port) == 2
        t.join(20)
        assert out == [1]


def test_failing_reload_keeps_the_old_app_and_logs_file_and_line(tmp_path):
    path = write_app(tmp_path, VERSION.format(v=1))
    stream = io.StringIO()
    logger = Logger(level="info", stream=stream)
    with Server(path, port=0, workers=1, docs=False, logger=logger) as srv:
        path.write_text("local api = rover.server {}\n\nfunction api.v.get( return 1 end\nreturn api\n")
        assert srv.reload() is False
        assert version(srv.port) == 1
        path.write_text(VERSION.format(v=3))
        assert srv.reload() is True
        assert version(srv.port) == 3
    text = stream.getvalue()
    assert "reload failed" in text
    assert "app.lua:3" in text


def test_watcher_reloads_when_a_lua_file_changes(tmp_path):
    path = write_app(tmp_path, VERSION.format(v=1))
    with Server(path, port=0, workers=1, docs=False, log_level="nope") as srv:
        watcher = ReloadWatcher(srv, interval=0.05)
        watcher.start()
        try:
            time.sleep(0.1)
            path.write_text(VERSION.format(v=22))
            deadline = time.monotonic() + 10
            while version(srv.port) != 22:
                assert time.monotonic() < deadline, "the change was not picked up"
                time.sleep(0.05)
        finally:
            watcher.stop()
