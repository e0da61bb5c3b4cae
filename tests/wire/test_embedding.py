"""SPEC 16: embedding. App.handle from many threads; two servers in one process."""

from __future__ import annotations

import http.client
import threading

from rover_mt import App, Server
from tests.helpers import write_app

APP = """
local api = rover.server {}
function api.users.p_id.get(ctx) return { id = ctx:params().id } end
function api.count.post(ctx) return rover.shared.hits:incr("n", 1, 0) end
return api
"""


def test_app_handle_is_safe_from_many_threads(tmp_path):
    path = write_app(tmp_path, APP)
    errors: list[str] = []
    with App.load(path, workers=2, docs=False, log_level="nope") as app:

        def run(tid: int) -> None:
            for i in range(50):
                r = app.handle("GET", f"/users/{tid}-{i}")
                if r.status != 200 or r.json() != {"id": f"{tid}-{i}"}:
                    errors.append(f"{tid}-{i}: {r.status} {r.body!r}")
                app.handle("POST", "/count")

        threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        # rover.shared counts every increment exactly once across workers and threads.
        assert app.handle("POST", "/count").body == b"401"


def test_two_servers_in_one_process(tmp_path):
    path = write_app(tmp_path, APP)
    with Server(path, port=0, workers=1, docs=False, log_level="nope") as a, \
         Server(path, port=0, workers=1, docs=False, log_level="nope") as b:
        assert a.port != b.port
        for srv in (a, b):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            c.request("POST", "/count")
            assert c.getresponse().read() == b"1"  # each server has its own shared store
            c.request("GET", "/metrics")
            body = c.getresponse().read()
            assert b'route="/count",status="200"} 1' in body


def test_stop_is_idempotent_and_url_is_real(tmp_path):
    path = write_app(tmp_path, APP)
    srv = Server(path, port=0, workers=1, docs=False, log_level="nope").start()
    assert srv.url == f"http://127.0.0.1:{srv.port}"
    srv.stop()
    srv.stop()
    app = App.load(path, workers=1, docs=False, log_level="nope")
    app.close()
    app.close()
