"""SPEC 10: rover.shared under concurrent load from every worker."""

from __future__ import annotations

import http.client
import threading

from rover_mt import Server
from tests.helpers import write_app

APP = """
local api = rover.server {}
function api.hit.post() return { n = rover.shared.counters:incr("hits", 1, 0), w = rover.worker.id } end
function api.total.get() return { n = rover.shared.counters:get("hits") } end
return api
"""


def test_2000_increments_over_4_workers_are_exact(tmp_path):
    path = write_app(tmp_path, APP)
    seen_workers: set[bytes] = set()
    with Server(path, port=0, workers=4, docs=False, log_level="nope") as srv:

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            for _ in range(250):
                conn.request("POST", "/hit")
                body = conn.getresponse().read()
                seen_workers.add(body.split(b'"w":')[1][:1])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        c.request("GET", "/total")
        assert c.getresponse().read() == b'{"n":2000}'
        assert srv.engine.shared.dict("counters").get("hits") == 2000
    assert len(seen_workers) >= 2
