"""SPEC 15: after a mixed run (normal, 404, 405, shed, timeout, client gone) the
request counter equals what was sent, and the in-flight and queue gauges are 0."""

from __future__ import annotations

import http.client
import socket
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from rover_mt import Server
from tests.helpers import write_app

APP = """
local api = rover.server {}
function api.ok.get() return "ok" end
function api.slow.get()
  local t = os.clock() + 0.3
  while os.clock() < t do end
  return "slow"
end
api.forever.get = rover.route { timeout = 0.5 } (function() while true do end end)
return api
"""


def metric_values(port: int) -> tuple[float, dict[str, float]]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    total, gauges = 0.0, {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "rover_http_requests_total" and s.labels["route"] != "/metrics":
                total += s.value
            elif s.name in ("rover_inflight_requests", "rover_queue_depth", "rover_busy_workers"):
                gauges[s.name] = s.value
    return total, gauges


def test_mixed_run_counts_every_request_once(tmp_path):
    path = write_app(tmp_path, APP)
    with Server(path, port=0, workers=1, queue_bound=1, backpressure="shed",
                docs=False, log_level="nope") as srv:
        sent = 0

        def get(p: str) -> int:
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            c.request("GET", p)
            return c.getresponse().status

        statuses = [get("/ok"), get("/nope")]
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("POST", "/ok")
        statuses.append(c.getresponse().status)
        sent += 3
        # Overload: one runs, one waits, the rest are shed.
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(get("/slow"))) for _ in range(6)]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join(20)
        sent += 6
        statuses.append(get("/forever"))  # 504 at the deadline
        sent += 1
        # A client that leaves while its request runs.
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        s.close()
        sent += 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            total, gauges = metric_values(srv.port)
            if total == sent and not any(gauges.values()):
                break
            time.sleep(0.05)
    assert statuses == [200, 404, 405, 504]
    assert sorted(set(results)) == [200, 503] and len(results) == 6
    assert total == sent, (total, sent)
    assert gauges == {"rover_inflight_requests": 0, "rover_queue_depth": 0, "rover_busy_workers": 0}
