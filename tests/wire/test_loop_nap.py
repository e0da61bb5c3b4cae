"""The I/O thread naps before polling while the workers have plenty queued
(Engine._nap): only then, never with a full queue, and the answers still come."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from rover_mt import Server
from rover_mt.engine import Engine
from tests.helpers import busy_app, read_to_close, send_slow, split_responses, write_app

APP = busy_app(0.05)


def status_of(s: socket.socket) -> int:
    return split_responses(read_to_close(s))[0][0]


def naps_while_queued(tmp_path: Path, queue_bound: int) -> tuple[float, float, float, list[int]]:
    """The nap before any work, with three 50 ms requests queued behind a running
    one, and after all are answered; and the statuses."""
    with Server(write_app(tmp_path, APP), port=0, workers=1, queue_bound=queue_bound,
                backpressure="shed", inline_handler_us=0, docs=False, log_level="nope") as srv:
        engine = srv.engine
        before = engine.call_in_loop(engine._nap)
        assert status_of(send_slow(srv.port)) == 200  # the workers learn the handler's time
        socks = [send_slow(srv.port)]
        time.sleep(0.01)  # the first is running
        socks += [send_slow(srv.port) for _ in range(3)]
        deadline = time.monotonic() + 5
        while engine.call_in_loop(engine.dispatcher.depth) < 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        during = engine.call_in_loop(engine._nap)
        statuses = [status_of(s) for s in socks]
        after = engine.call_in_loop(engine._nap)
    return before, during, after, statuses


def test_naps_only_while_plenty_is_queued(tmp_path: Path) -> None:
    before, during, after, statuses = naps_while_queued(tmp_path, queue_bound=8)
    assert statuses == [200] * 4
    assert before == 0.0 and after == 0.0  # nothing queued
    # Three requests of 50 ms queued for one worker: 150 ms of work, over the
    # 2 ms that make the loop nap.
    assert during == Engine.NAP_SECONDS > 0


def test_no_nap_with_a_full_queue(tmp_path: Path) -> None:
    _, during, _, statuses = naps_while_queued(tmp_path, queue_bound=3)
    assert statuses == [200] * 4  # three wait: exactly the bound, none shed
    assert during == 0.0
