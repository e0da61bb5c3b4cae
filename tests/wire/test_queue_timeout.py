"""queue_timeout: a request that waited longer than it for a worker is answered
503 by the worker that reaches it, at once, instead of being run."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from rover_mt import Server
from tests.helpers import busy_app, read_to_close, send_slow, split_responses, write_app
from tests.wire.test_sent_by_worker import metrics_text, sample

APP = busy_app(0.15)


def answer(s: socket.socket) -> tuple[int, dict[str, str], bytes, float]:
    """The response on `s` and the monotonic time it was complete."""
    status, headers, body = split_responses(read_to_close(s))[0]
    return status, headers, body, time.monotonic()


def one_running_two_waiting(tmp_path: Path, **settings: object) -> tuple[list[tuple[int, dict[str, str], bytes, float]], str]:
    """With one worker: start /slow (150 ms of Lua), send two more while it runs,
    then one more once all are answered. Returns the four answers and /metrics."""
    with Server(write_app(tmp_path, APP), port=0, workers=1, queue_bound=8, backpressure="shed",
                inline_handler_us=0, docs=False, log_level="nope", **settings) as srv:
        running = send_slow(srv.port)
        time.sleep(0.03)  # the worker is inside the handler for ~120 ms more
        waiting = [send_slow(srv.port), send_slow(srv.port)]
        answers = [answer(s) for s in (running, *waiting)]
        answers.append(answer(send_slow(srv.port)))  # nothing queued now: it runs
        text = metrics_text(srv.port)
    return answers, text


def test_requests_that_waited_too_long_are_shed_by_the_worker(tmp_path: Path) -> None:
    answers, text = one_running_two_waiting(tmp_path, queue_timeout=0.05)
    assert [a[0] for a in answers] == [200, 503, 503, 200]
    for status, headers, body, _ in answers[1:3]:
        assert headers["retry-after"] == "1"
        assert body == b'{"error":"Server overloaded"}'
    # Shed, not run: both 503s follow the first answer without another 150 ms run each.
    assert answers[2][3] - answers[0][3] < 0.1
    assert sample(text, "rover_queue_expired_total ") == 2
    assert sample(text, "rover_shed_total ") == 2
    assert sample(text, "rover_dispatched_total ") == sample(text, "rover_completed_total ") == 4
    assert sample(text, 'rover_http_requests_total{method="GET",route="/slow",status="503"}') == 2


def test_without_queue_timeout_they_wait_and_run(tmp_path: Path) -> None:
    answers, text = one_running_two_waiting(tmp_path)
    assert [a[0] for a in answers] == [200, 200, 200, 200]
    assert answers[2][3] - answers[0][3] >= 0.25  # two more runs of 150 ms each
    assert sample(text, "rover_queue_expired_total ") == 0
    assert sample(text, "rover_shed_total ") == 0


def test_a_request_under_the_limit_runs(tmp_path: Path) -> None:
    # The waiting requests wait about 120 ms and 270 ms: only the second is over 0.2 s.
    answers, _ = one_running_two_waiting(tmp_path, queue_timeout=0.2)
    assert [a[0] for a in answers] == [200, 200, 503, 200]
