"""The background writer: emitting never blocks, drops are counted, close is robust."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading

from rover_mt.observe import Logger

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class GatedStream(io.StringIO):
    """A stream whose write blocks until the test opens the gate (a stuck stdout)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writing = threading.Event()

    def write(self, text: str) -> int:
        self.writing.set()
        assert self.gate.wait(timeout=30), "test never opened the gate"
        return super().write(text)


class FailingStream(io.StringIO):
    """Raises on write while ``broken`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def write(self, text: str) -> int:
        if self.broken:
            raise BrokenPipeError("stdout went away")
        return super().write(text)


def run_bounded(target, timeout: float = 10.0) -> bool:
    """Run ``target`` in a thread; True if it finished within ``timeout``."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def access(logger: Logger, index: int) -> None:
    logger.access(method="GET", path="/", route="/", status=200, duration_s=0.001,
                  bytes_sent=1, request_id=str(index), client_ip="127.0.0.1")


def test_emitting_never_blocks_on_a_stuck_stream_and_every_record_is_accounted_for():
    stream = GatedStream()
    logger = Logger(stream=stream, buffer_size=100)
    logger.info("first")
    assert stream.writing.wait(timeout=5)  # the writer is now stuck inside write()

    def emit_many() -> None:
        for index in range(2000):
            access(logger, index)

    assert run_bounded(emit_many), "emitting blocked on the stream"
    assert logger.dropped >= 2000 - 100
    stream.gate.set()
    assert logger.flush(timeout=10)
    written = stream.getvalue().splitlines()
    assert len(written) + logger.dropped == 2001
    assert written[0].endswith("INFO first")
    logger.close()


def test_warnings_and_errors_get_room_when_access_lines_fill_the_buffer():
    stream = GatedStream()
    logger = Logger(stream=stream, buffer_size=100)
    logger.info("first")
    assert stream.writing.wait(timeout=5)
    for index in range(500):
        access(logger, index)
    for index in range(10):
        logger.error("important", n=index)
    assert logger.dropped_important == 0
    stream.gate.set()
    assert logger.flush(timeout=10)
    assert stream.getvalue().count("ERROR important") == 10
    logger.close()


def test_important_records_are_dropped_and_counted_once_the_reserve_is_full():
    stream = GatedStream()
    logger = Logger(stream=stream, buffer_size=100)  # reserve: 16 extra for warn/error
    logger.info("first")
    assert stream.writing.wait(timeout=5)
    assert run_bounded(lambda: [logger.warn("w", n=n) for n in range(300)])
    assert logger.dropped_important > 0
    assert logger.dropped_important == logger.dropped
    stream.gate.set()
    assert logger.flush(timeout=10)
    assert stream.getvalue().count("WARN w") + logger.dropped_important == 300
    logger.close()


def test_flush_times_out_on_a_stuck_stream_then_succeeds():
    stream = GatedStream()
    logger = Logger(stream=stream)
    logger.info("x")
    assert stream.writing.wait(timeout=5)
    assert logger.flush(timeout=0.05) is False
    stream.gate.set()
    assert logger.flush(timeout=10) is True
    logger.close()


def test_a_failing_stream_costs_lines_not_the_writer():
    stream = FailingStream()
    logger = Logger(stream=stream)
    logger.error("lost")
    assert logger.flush(timeout=5)
    assert logger.write_errors == 1
    stream.broken = False
    logger.error("kept")
    assert logger.flush(timeout=5)
    assert stream.getvalue().splitlines()[0].endswith("ERROR kept")
    logger.close()


def test_many_threads_lose_nothing_when_there_is_room():
    stream = io.StringIO()
    logger = Logger(stream=stream, buffer_size=100_000)

    def emit(thread_index: int) -> None:
        for index in range(1000):
            logger.info("m", t=thread_index, i=index)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert logger.flush(timeout=10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8000 and len(set(lines)) <= 8000
    assert logger.dropped == 0
    logger.close()


def test_close_is_idempotent_and_later_records_are_counted_as_dropped():
    stream = io.StringIO()
    logger = Logger(stream=stream)
    logger.info("before")
    logger.close()
    logger.close()
    logger.error("after")
    assert stream.getvalue().splitlines()[0].endswith("INFO before")
    assert "after" not in stream.getvalue()
    assert logger.dropped == 1


def test_close_returns_even_when_the_stream_is_stuck():
    stream = GatedStream()
    logger = Logger(stream=stream)
    logger.info("x")
    assert stream.writing.wait(timeout=5)
    assert run_bounded(lambda: logger.close(timeout=0.1))
    stream.gate.set()


def test_writer_thread_is_a_daemon():
    before = {t.ident for t in threading.enumerate()}
    logger = Logger(stream=io.StringIO())
    new = [t for t in threading.enumerate() if t.ident not in before]
    assert new and all(t.daemon for t in new)
    logger.close()


def test_queued_lines_are_written_at_interpreter_exit_without_close():
    script = (
        "import sys\n"
        "from rover_mt.observe import Logger\n"
        "log = Logger(stream=sys.stdout)\n"
        "for i in range(100): log.info('bye', i=i)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("INFO bye") == 100
    assert result.stderr == ""
