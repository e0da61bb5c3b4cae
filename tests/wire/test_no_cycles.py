"""A finished request leaves no reference cycle behind: its Ticket and Request go
with their last reference, not at one of the cyclic GC's collections (which run
on the I/O thread, every 100-200 requests)."""

from __future__ import annotations

import gc
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rover_mt import Server
from rover_mt.request import Request, Ticket
from tests.helpers import write_app
from tests.wire.test_inline import until_inline

APP = """
local api = rover.server {}
function api.fast.get(ctx) return { id = ctx:query().id, worker = rover.worker.id } end
api.pinned.get = rover.route { inline = false } (function(ctx)
  return { id = ctx:query().id, worker = rover.worker.id }
end)
return api
"""


@pytest.fixture
def saved_garbage() -> Iterator[list]:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_requests_leave_no_cycles(tmp_path: Path, saved_garbage: list) -> None:
    with Server(write_app(tmp_path, APP), port=0, workers=2, inline_handler_us=150,
                docs=False, log_level="nope") as srv:
        assert until_inline(srv.port, "/fast")[-1] == 0
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        for i in range(30):
            for path, on_io_thread in (("/fast", True), ("/pinned", False)):
                conn.request("GET", f"{path}?id={i}")
                r = conn.getresponse()
                body = json.loads(r.read())
                assert r.status == 200 and body["id"] == str(i)
                assert (body["worker"] == 0) == on_io_thread
        conn.close()
        gc.collect()
        left = [o for o in saved_garbage if type(o) in (Request, Ticket)]
    assert left == []
