"""queue_bound is the number of requests that may wait, wherever they wait: in the
janus queue, about to be queued, or already taken into a worker's batch."""

from __future__ import annotations

import gc
import logging
import socket
import struct
import threading
import time

from rover_mt import Server
from tests.helpers import busy_app, read_to_close, send_slow, split_responses, write_app

APP = busy_app(0.15)


def test_at_most_queue_bound_wait_behind_the_running_one(tmp_path):
    path = write_app(tmp_path, APP)
    with Server(path, port=0, workers=1, queue_bound=4, backpressure="shed", docs=False,
                log_level="nope") as srv:
        socks = []
        for _ in range(12):
            socks.append(send_slow(srv.port))
            time.sleep(0.025)  # arrivals span two handler runs, so batches are taken meanwhile
        statuses = [split_responses(read_to_close(s))[0][0] for s in socks]
    # At most one runs and four wait at any moment. Arrivals span ~300 ms, during
    # which one or two handlers finish and free a place each: five to seven are
    # served. (Counting a worker's batch as free room lets nine or more in.)
    assert 5 <= statuses.count(200) <= 7, statuses
    assert statuses.count(200) + statuses.count(503) == 12, statuses


def test_abandoned_requests_do_not_hold_places(tmp_path):
    """Requests whose clients left still sit in the queue until a worker skips them;
    they must not make the server shed live requests meanwhile. (A client that only
    sends FIN is a half-close: its request is still answered, so it keeps its place.)"""
    path = write_app(tmp_path, APP)
    with Server(path, port=0, workers=1, queue_bound=4, backpressure="shed", docs=False,
                log_level="nope") as srv:
        running = send_slow(srv.port)
        time.sleep(0.05)  # the worker is busy with it for ~150 ms
        for s in [send_slow(srv.port) for _ in range(4)]:  # fill the queue, then leave (reset)
            time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        time.sleep(0.05)
        live = [send_slow(srv.port) for _ in range(4)]
        statuses = [split_responses(read_to_close(s))[0][0] for s in [running, *live]]
    assert statuses == [200] * 5, statuses


def test_block_mode_admits_no_more_than_queue_bound_either(tmp_path):
    """Requests blocked for room are admitted only when the count of waiting
    requests (the worker's batch included) is under the bound, and oldest first;
    those still blocked at backpressure_timeout_ms are shed."""
    path = write_app(tmp_path, busy_app(0.05))
    with Server(path, port=0, workers=1, queue_bound=4, backpressure="block",
                backpressure_timeout_ms=300, docs=False, log_level="nope") as srv:
        engine = srv.engine
        depths: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                depths.append(engine.call_in_loop(engine.dispatcher.depth))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        socks = [send_slow(srv.port) for _ in range(20)]
        statuses = [split_responses(read_to_close(s))[0][0] for s in socks]
        stop.set()
        sampler.join(10)
    assert max(depths) <= 4, max(depths)
    assert max(depths) >= 3, depths  # the queue did fill
    # One runs, four wait; in 300 ms about six more handler runs (50 ms each) free a
    # place for a blocked request each; the rest are shed at 300 ms.
    assert 8 <= statuses.count(200) <= 13, statuses
    assert statuses.count(200) + statuses.count(503) == 20, statuses


def test_stopping_at_once_with_requests_blocked_for_room_leaves_no_pending_task(tmp_path, caplog):
    """With graceful_timeout = 0 requests may still be blocked for room when the loop
    ends; the task admitting them is cancelled rather than destroyed while pending."""
    path = write_app(tmp_path, busy_app(0.3))
    srv = Server(path, port=0, workers=1, queue_bound=1, backpressure="block",
                 backpressure_timeout_ms=5000, graceful_timeout=0, docs=False, log_level="nope")
    srv.start()
    socks = []
    try:
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        deadline = time.monotonic() + 5
        while srv.engine.call_in_loop(lambda: len(srv.engine.dispatcher._waiters)) < 3:
            assert time.monotonic() < deadline, "requests never blocked"
            time.sleep(0.01)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            srv.stop()
            del srv
            gc.collect()
        assert not [r for r in caplog.records if "pending" in r.getMessage()], caplog.text
    finally:
        for s in socks:
            s.close()
