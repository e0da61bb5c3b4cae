"""Inline batches over real sockets: requests for a handler that runs on the I/O
thread, read in one loop iteration, run together in one Lua call (engine.py,
Engine._run_inline_pending), and each client still gets its own answer, its own
error and its own deadline.

To make the requests arrive in one poll, the test holds the loop thread (a
sleep run through Engine.call_in_loop) while the clients send; when the loop
wakes, one poll returns them all."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from rover_mt import Server
from rover_mt.observe.logger import Logger
from tests.helpers import metrics_text, split_responses, write_app
from tests.wire.test_inline import THRESHOLD, get, metric, until_inline

APP = """
local api = rover.server {}
-- Fast unless told otherwise; rover.worker.id is 0 when it ran on the I/O thread.
function api.item.p_id.get(ctx)
  local id = ctx:params().id
  local q = ctx:query()
  if q.fail then error("item " .. id .. " failed") end
  if q.spin then while true do end end
  return { id = id, worker = rover.worker.id }
end
return api
"""

CLIENTS = 20


def hold_loop(srv: Server, seconds: float) -> threading.Thread:
    """Keep the loop thread asleep for `seconds`; returns once it is asleep."""
    asleep = threading.Event()

    def hold() -> None:
        asleep.set()
        time.sleep(seconds)

    holder = threading.Thread(target=srv.engine.call_in_loop, args=(hold,), kwargs={"timeout": 10})
    holder.start()
    assert asleep.wait(5), "the loop thread did not take the hold"
    return holder


def send_together(srv: Server, paths: list[str], hold: float = 0.3,
                  while_held: Callable[[], None] = lambda: None) -> list[tuple[int, dict, bytes]]:
    """Send one request per path, each on its own connection, while the loop is
    held (then call `while_held`); return each connection's answer, in the order
    of `paths`."""
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in paths]
    time.sleep(0.1)  # every connection accepted before the loop is held
    holder = hold_loop(srv, hold)
    for sock, path in zip(socks, paths):
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    while_held()
    holder.join(timeout=10)
    answers = []
    for sock in socks:
        answers.append(read_one_response(sock))
        sock.close()
    return answers


def read_one_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(split_responses(head + sep)[0][1].get("content-length", "0"))
            if len(rest) >= length:
                return split_responses(data)[0]
        chunk = sock.recv(65536)  # the socket's timeout (10 s) bounds the wait
        assert chunk, f"connection closed without a whole answer: {data[:200]!r}"
        data += chunk


def body_of(answer: tuple[int, dict, bytes]) -> dict:
    return json.loads(answer[2])


def test_requests_read_in_one_poll_run_in_one_batch(tmp_path: Path):
    app = write_app(tmp_path, APP)
    with Server(app, port=0, workers=2, log_level="error", **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        inline_before = metric(srv.port, "rover_inline_total")
        dispatched_before = metric(srv.port, "rover_dispatched_total")
        assert metric(srv.port, "rover_inline_batched_total") == 0  # one at a time so far
        answers = send_together(srv, [f"/item/{i}" for i in range(CLIENTS)])
        for i, answer in enumerate(answers):
            assert answer[0] == 200, answer
            assert body_of(answer) == {"id": str(i), "worker": 0}
        # Each request of the one metrics request below counts too: inline_total
        # grows by exactly CLIENTS, none went to the workers.
        assert metric(srv.port, "rover_inline_total") - inline_before == CLIENTS
        assert metric(srv.port, "rover_dispatched_total") == dispatched_before
        # All in batches (a batch is at most 64 requests, or 0.3 ms of their
        # average time; a lone remainder would run alone).
        assert metric(srv.port, "rover_inline_batched_total") >= CLIENTS - 1


def test_an_error_in_a_batch_is_its_own_requests_alone(tmp_path: Path):
    app = write_app(tmp_path, APP)
    with Server(app, port=0, workers=2, log_level="error", **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        paths = [f"/item/{i}" + ("?fail=1" if i % 3 == 0 else "") for i in range(CLIENTS)]
        answers = send_together(srv, paths)
        for i, answer in enumerate(answers):
            if i % 3 == 0:
                assert answer[0] == 500, answer
                # Its own error (shown: expose_errors is on by default), no other's.
                assert body_of(answer)["error"].endswith(f"item {i} failed"), answer
            else:
                assert answer[0] == 200 and body_of(answer) == {"id": str(i), "worker": 0}, answer
        assert metric(srv.port, "rover_inline_batched_total") >= CLIENTS - 1


def test_each_request_of_a_batch_is_counted_and_logged_once(tmp_path: Path):
    """Engine._finish_inline counts and logs a batch's answers itself: every
    request once, with its own status, path and request id."""
    app = write_app(tmp_path, APP)
    stream = io.StringIO()
    logger = Logger(level="info", fmt="json", stream=stream)
    with Server(app, port=0, workers=2, logger=logger, **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        before = requests_total(srv.port)
        paths = [f"/item/{i}" + ("?fail=1" if i % 4 == 0 else "") for i in range(CLIENTS)]
        answers = send_together(srv, paths)
        assert [a[0] for a in answers] == [500 if i % 4 == 0 else 200 for i in range(CLIENTS)]
        after = requests_total(srv.port)
        assert metric(srv.port, "rover_inline_batched_total") >= CLIENTS - 1
        logger.flush(2)
    failed = CLIENTS // 4
    assert after["500"] - before.get("500", 0) == failed
    assert after["200"] - before["200"] == CLIENTS - failed
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = {r["request_id"]: r for r in lines if r.get("msg") == "access" and r["path"] != "/metrics"}
    ids = [a[1]["x-request-id"] for a in answers]
    assert len(set(ids)) == CLIENTS
    for i, rid in enumerate(ids):
        entry = access[rid]
        assert (entry["path"], entry["route"], entry["status"]) == \
            (f"/item/{i}", "/item/{id}", answers[i][0]), entry
        assert entry["bytes"] == len(answers[i][2]) and entry["duration_ms"] >= 0


def test_an_error_of_ours_around_a_batch_answers_500_and_drops_nothing(tmp_path: Path):
    """A failure in the engine's own bookkeeping of an inline batch (here: sizing
    it) answers every request of the batch 500 and logs once; the clients do not
    wait for their timeouts, and the next requests run inline as before."""
    app = write_app(tmp_path, APP)
    stream = io.StringIO()
    logger = Logger(level="error", fmt="json", stream=stream)
    with Server(app, port=0, workers=2, logger=logger, **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        inline = srv.engine.inline
        calls = []

        def broken(hid: int) -> int:
            calls.append(hid)
            raise OverflowError("cannot convert float infinity to integer")

        inline.batch_limit = broken  # type: ignore[method-assign]
        try:
            answers = send_together(srv, [f"/item/{i}" for i in range(CLIENTS)])
        finally:
            del inline.batch_limit  # the class's method again
        assert calls, "the batch did not run inline"
        for answer in answers:
            assert answer[0] == 500 and body_of(answer) == {"error": "Internal Server Error"}, answer
        assert requests_total(srv.port)["500"] == CLIENTS
        status, body = get(srv.port, "/item/7")
        assert status == 200 and body == {"id": "7", "worker": 0}, body
        logger.flush(2)
    errors = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [r for r in errors if r.get("level") == "error"]
    assert len(errors) == len(calls), errors
    assert "running handlers on the I/O thread" in errors[0]["msg"]
    assert "OverflowError" in errors[0]["msg"] and errors[0]["route"] == "/item/{id}"


def requests_total(port: int) -> dict[str, float]:
    """rover_http_requests_total of GET /item/{id}, by status."""
    out = {}
    for family in text_string_to_metric_families(metrics_text(port)):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "rover_http_requests_total" and labels.get("route") == "/item/{id}":
                out[labels["status"]] = sample.value
    return out


def test_a_deadline_in_a_batch_stops_the_request_that_spins(tmp_path: Path):
    """The guard thread stops the request that spins at its deadline; the
    requests before it in the batch got their answers. (Requests after it
    whose deadline passed while they waited get 504 without running:
    tests/unit/test_batch_run.py, where deadlines can be set exactly.)"""
    app = write_app(tmp_path, APP)
    with Server(app, port=0, workers=2, handler_timeout=0.5, log_level="error", **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        spin = CLIENTS - 1
        paths = [f"/item/{i}" + ("?spin=1" if i == spin else "") for i in range(CLIENTS)]
        t0 = time.monotonic()
        answers = send_together(srv, paths, hold=0.2)
        took = time.monotonic() - t0
        for i, answer in enumerate(answers[:spin]):
            assert answer[0] == 200 and body_of(answer) == {"id": str(i), "worker": 0}, answer
        assert answers[spin][0] == 504 and body_of(answers[spin]) == {"error": "Handler timed out"}
        assert took < 3.0, took  # stopped at its 0.5 s deadline, not later
        assert metric(srv.port, "rover_handler_timeouts_total") == 1
        assert metric(srv.port, "rover_inline_batched_total") >= CLIENTS - 1
        # The batch took 0.5 s, far over the limit of an inline run: the handler
        # is back on the workers.
        status, body = get(srv.port, "/item/1")
        assert status == 200 and body["worker"] != 0, body


VERSIONED = """
local api = rover.server {}
function api.item.p_id.get(ctx)
  return { id = ctx:params().id, worker = rover.worker.id, version = VERSION }
end
return api
"""


def test_requests_held_for_a_batch_when_the_app_is_swapped_run_on_the_workers(tmp_path: Path):
    """The reload's swap is queued on the loop while the loop is held; the
    requests read in the next poll are routed to the old app and held for a
    batch, then the swap runs before the batch does. They must not run on the
    I/O thread's runtime, which is the new app's by then: the workers run them,
    on the old app."""
    app = write_app(tmp_path, VERSIONED.replace("VERSION", "1"))
    with Server(app, port=0, workers=2, log_level="error", **THRESHOLD) as srv:
        assert until_inline(srv.port, "/item/0")[-1] == 0
        reload = threading.Thread(target=srv.reload)

        def start_reload() -> None:
            write_app(tmp_path, VERSIONED.replace("VERSION", "2"))
            reload.start()  # loads and warms off the loop, then queues the swap on it

        answers = send_together(srv, [f"/item/{i}" for i in range(CLIENTS)], hold=1.0,
                                while_held=start_reload)
        reload.join(timeout=10)
        for i, answer in enumerate(answers):
            assert answer[0] == 200, answer
            assert body_of(answer)["version"] == 1 and body_of(answer)["id"] == str(i), answer
            assert body_of(answer)["worker"] in (1, 2), answer
        assert metric(srv.port, "rover_inline_batched_total") == 0
        status, body = get(srv.port, "/item/0")
        assert status == 200 and body["version"] == 2, body
