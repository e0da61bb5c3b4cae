"""Batches over real sockets: requests of one fast handler that queue up behind a
busy worker run together in one Lua call, and every client gets its own answer."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

from rover_mt import Server
from rover_mt.worker.inline import WARMUP
from tests.helpers import write_app
from tests.wire.test_inline import get, metric

APP = """
local api = rover.server {}
-- Fast, and kept off the I/O thread so that it runs on the worker.
api.echo.p_id.post = rover.route { inline = false } (function(ctx)
  return { id = ctx:params().id, body = ctx:body():text(), worker = rover.worker.id }
end)
-- Keeps the only worker busy while the fast requests queue up.
api.busy.get = rover.route { inline = false } (function()
  local t0 = os.clock()
  while os.clock() - t0 < 0.2 do end
  return { busy = true }
end)
return api
"""


def post(port: int, i: int, results: dict[int, tuple[int, dict]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", f"/echo/{i}", body=f"payload {i}".encode())
        r = conn.getresponse()
        results[i] = (r.status, json.loads(r.read()))
    finally:
        conn.close()


def test_queued_requests_of_a_fast_handler_run_in_batches(tmp_path: Path):
    app = write_app(tmp_path, APP)
    with Server(app, port=0, workers=1, log_level="error", docs=False) as srv:
        port = srv.port
        # The handler's average becomes known after WARMUP runs one by one.
        for i in range(WARMUP + 4):
            status, body = get(port, f"/echo/{i}", method="POST", body=b"x")
            assert status == 200 and body["id"] == str(i), body
        assert metric(port, "rover_batched_total") == 0  # nothing queued so far
        busy = threading.Thread(target=get, args=(port, "/busy"))
        busy.start()
        results: dict[int, tuple[int, dict]] = {}
        clients = [threading.Thread(target=post, args=(port, i, results)) for i in range(24)]
        for c in clients:
            c.start()
        for c in clients + [busy]:
            c.join(timeout=20)
        assert sorted(results) == list(range(24))
        for i, (status, body) in results.items():
            assert status == 200, body
            assert body["id"] == str(i) and body["body"] == f"payload {i}" and body["worker"] == 1
        batched = metric(port, "rover_batched_total")
        assert 2 <= batched <= 24
        assert metric(port, "rover_dispatched_total") == metric(port, "rover_completed_total")
