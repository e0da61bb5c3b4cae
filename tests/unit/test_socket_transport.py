"""SocketTransport + ServingSelector (net/transport.py, net/selector.py) on a real
asyncio loop and real loopback TCP sockets: the asyncio transport semantics the
connection code relies on, and output sent once per loop iteration."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from rover_mt.inbox import AnswerInbox
from rover_mt.net.selector import ServingSelector
from rover_mt.net.transport import SocketTransport


class Recorder(asyncio.Protocol):
    """Records every callback; `on_data` lets a test act inside data_received."""

    def __init__(self, keep_open_on_eof: bool = False) -> None:
        self.events: list[str] = []
        self.data = b""
        self.transport: SocketTransport | None = None
        self.keep_open_on_eof = keep_open_on_eof
        self.on_data = None

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.on_data is not None:
            self.on_data(data)

    def eof_received(self):  # type: ignore[override]
        self.events.append("eof")
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.events.append("lost")


class Rig:
    """A loop on ServingSelector plus pairs of (server transport, client socket)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.selector = ServingSelector(lambda: 0.0, self._on_error)
        self.loop = asyncio.SelectorEventLoop(self.selector)
        self.selector.watch_loop(self.loop)  # as Engine does
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.clients: list[socket.socket] = []

    def _on_error(self, exc: BaseException, transport: SocketTransport) -> None:
        self.errors.append(exc)
        transport.abort()

    def pair(self, protocol: Recorder, rcvbuf: int | None = None) -> tuple[SocketTransport, socket.socket]:
        client = socket.socket()
        if rcvbuf:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        client.connect(self.listener.getsockname())
        client.settimeout(5)
        self.clients.append(client)
        server_side, _ = self.listener.accept()
        server_side.setblocking(False)
        if rcvbuf:
            server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
        return SocketTransport(self.loop, self.selector, server_side, protocol), client

    def turn(self, until=None, seconds: float = 5.0) -> None:
        """Run the loop until `until()` holds (at most `seconds`), or for one turn."""
        end = time.monotonic() + seconds
        while True:
            self.loop.run_until_complete(asyncio.sleep(0.001))
            if until is None or until() or time.monotonic() > end:
                return

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.listener.close()
        self.loop.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def test_reads_reach_the_protocol_and_writes_wait_for_the_flush(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    client.sendall(b"ping")
    rig.turn(lambda: proto.data == b"ping")
    assert proto.data == b"ping" and proto.events == ["made"]
    transport.write(b"one ")
    transport.write(b"two")
    # Queued, not sent: the selector sends every connection's output together.
    assert transport.get_write_buffer_size() == 7
    assert rig.selector.unsent == [transport]
    rig.turn()
    assert transport.get_write_buffer_size() == 0
    assert recv_exactly(client, 7) == b"one two"


def test_answers_written_while_reading_go_out_within_the_same_select(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    proto.on_data = lambda data: transport.write(b"echo:" + data)
    client.sendall(b"x")
    # One poll: the socket is read, the protocol answers, the answer is sent,
    # and none of it is handed to asyncio as an event.
    assert rig.selector.select(5.0) == []
    assert proto.data == b"x" and rig.selector.unsent == []
    assert recv_exactly(client, 6) == b"echo:x"


def test_a_slow_reader_pauses_writing_then_everything_arrives_in_order(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto, rcvbuf=4096)
    transport.set_write_buffer_limits(high=64 * 1024)
    payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold
    transport.write(payload)
    assert "pause" in proto.events
    rig.turn()
    assert transport.get_write_buffer_size() > 0  # the kernel could not take it all
    received = bytearray()
    client.setblocking(False)
    end = time.monotonic() + 10
    while len(received) < len(payload) and time.monotonic() < end:
        try:
            received += client.recv(1 << 20)
        except BlockingIOError:
            rig.turn()
    assert bytes(received) == payload
    rig.turn(lambda: "resume" in proto.events)
    assert proto.events == ["made", "pause", "resume"]


def test_close_sends_what_is_buffered_first_then_connection_lost(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    transport.write(b"last words")
    transport.close()
    assert transport.is_closing() and "lost" not in proto.events
    rig.turn(lambda: "lost" in proto.events)
    assert recv_exactly(client, 64) == b"last words"
    assert client.recv(1) == b""  # then FIN
    assert proto.events == ["made", "lost"]


def test_abort_drops_buffered_output(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    transport.write(b"never sent")
    transport.abort()
    rig.turn(lambda: "lost" in proto.events)
    assert proto.events == ["made", "lost"]
    assert client.recv(64) == b""


def test_peer_eof_closes_unless_the_protocol_keeps_the_socket_open(rig: Rig):
    closing, keeping = Recorder(), Recorder(keep_open_on_eof=True)
    t1, c1 = rig.pair(closing)
    t2, c2 = rig.pair(keeping)
    c1.shutdown(socket.SHUT_WR)
    c2.shutdown(socket.SHUT_WR)
    rig.turn(lambda: "lost" in closing.events and "eof" in keeping.events)
    assert closing.events == ["made", "eof", "lost"]
    assert keeping.events == ["made", "eof"]
    # Half-closed: the answer still goes out, and write_eof ends it.
    t2.write(b"answer")
    t2.write_eof()
    rig.turn()
    assert recv_exactly(c2, 64) == b"answer"
    assert c2.recv(1) == b""


def test_a_bug_in_a_protocol_drops_that_connection_only(rig: Rig):
    broken, fine = Recorder(), Recorder()
    t1, c1 = rig.pair(broken)
    t2, c2 = rig.pair(fine)

    def explode(data: bytes) -> None:
        raise ValueError("bug")

    broken.on_data = explode
    fine.on_data = lambda data: t2.write(b"ok")
    c1.sendall(b"a")
    c2.sendall(b"b")
    rig.turn(lambda: "lost" in broken.events and fine.data == b"b")
    assert [type(e) for e in rig.errors] == [ValueError]
    assert broken.events == ["made", "lost"]
    assert recv_exactly(c2, 2) == b"ok"
    assert c1.recv(1) == b""


def test_writing_after_close_or_write_eof_is_dropped(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    transport.write_eof()
    transport.write(b"too late")
    assert transport.get_write_buffer_size() == 0
    rig.turn()
    assert client.recv(64) == b""


def test_long_batches_make_room_for_the_engine_between_events():
    calls: list[int] = []
    rig = Rig()
    rig.selector._send_answers = lambda: calls.append(len(seen))
    seen: list[int] = []
    try:
        clients = []
        for i in range(2 * ServingSelector.BETWEEN_EVERY + 3):
            proto = Recorder()
            proto.on_data = lambda data, i=i: seen.append(i)
            clients.append(rig.pair(proto)[1])
        for c in clients:
            c.sendall(b"x")
        time.sleep(0.05)  # every socket readable before the one poll below
        rig.selector.select(5.0)
        assert len(seen) == len(clients)
        # Called after every BETWEEN_EVERY sockets, while the batch is handled.
        every = ServingSelector.BETWEEN_EVERY
        assert calls == [every - 1, 2 * every - 1]
    finally:
        rig.close()


def test_a_partial_flush_sends_only_the_later_output(rig: Rig):
    early, late = Recorder(), Recorder()
    t_early, c_early = rig.pair(early)
    t_late, c_late = rig.pair(late)
    t_early.write(b"503")
    queued = len(rig.selector.unsent)
    t_late.write(b"200")
    rig.selector.flush(queued)
    # The later answer went out; the earlier one keeps its place in the batch.
    assert recv_exactly(c_late, 3) == b"200"
    assert rig.selector.unsent == [t_early] and t_early.get_write_buffer_size() == 3
    rig.selector.flush()
    assert recv_exactly(c_early, 3) == b"503"


def test_a_socket_paused_earlier_in_the_same_batch_is_not_read(rig: Rig):
    a, b = Recorder(), Recorder()
    ta, ca = rig.pair(a)
    tb, cb = rig.pair(b)
    # Whichever is read first pauses the other, between the poll and its turn.
    a.on_data = lambda data: tb.pause_reading()
    b.on_data = lambda data: ta.pause_reading()
    ca.sendall(b"A")
    cb.sendall(b"B")
    time.sleep(0.05)  # both readable before the one poll below
    rig.selector.select(5.0)
    assert sorted([a.data, b.data]) == [b"", b"B"] or sorted([a.data, b.data]) == [b"", b"A"]
    a.on_data = b.on_data = None
    ta.resume_reading()
    tb.resume_reading()
    rig.turn(lambda: a.data == b"A" and b.data == b"B")
    assert (a.data, b.data) == (b"A", b"B")


def test_after_the_peer_eof_resuming_reading_reads_nothing_again(rig: Rig):
    keeping = Recorder(keep_open_on_eof=True)
    transport, client = rig.pair(keeping)
    client.shutdown(socket.SHUT_WR)
    rig.turn(lambda: "eof" in keeping.events)
    # Like asyncio: once the peer has finished sending, there is nothing to resume.
    transport.pause_reading()
    transport.resume_reading()
    assert not transport.is_reading()
    rig.turn()
    assert keeping.events == ["made", "eof"]
    transport.write(b"still answering")
    transport.close()
    rig.turn(lambda: "lost" in keeping.events)
    assert recv_exactly(client, 64) == b"still answering"


def test_a_worker_sends_when_nothing_is_queued(rig: Rig):
    transport, client = rig.pair(Recorder())
    assert transport.idle_for_worker()
    assert transport.send_from_worker(b"answer") == 6
    assert recv_exactly(client, 6) == b"answer"
    transport.write(b"queued")
    # Output queued by the loop must go first: the worker may not send now.
    assert not transport.idle_for_worker()
    rig.turn()
    assert recv_exactly(client, 6) == b"queued"
    assert transport.idle_for_worker()
    transport.close()
    assert not transport.idle_for_worker()


def test_the_socket_stays_open_until_the_worker_send_returns(rig: Rig):
    """If the loop closed the socket while a worker was sending on it, the
    descriptor could be reused by the next accept and the rest of the answer
    would go to another client: the close waits for the send."""
    proto = Recorder()
    transport, client = rig.pair(proto)
    sock = transport.get_extra_info("socket")
    transport._worker_sending = True  # a worker is inside send_from_worker()
    transport.abort()
    rig.turn(lambda: "lost" in proto.events)
    assert proto.events == ["made", "lost"]
    assert sock.fileno() != -1  # not closed yet
    transport._worker_sent()  # the worker's send returns
    assert sock.fileno() == -1  # closed by the worker's side now
    assert client.recv(16) == b""


class Sends:
    """Stands in for a transport with queued output: `then` runs when it is sent."""

    def __init__(self, then=lambda: None) -> None:
        self.then = then

    def on_writable(self) -> None:
        self.then()


def timed_select(selector: ServingSelector, timeout: float) -> float:
    t0 = time.monotonic()
    selector.select(timeout)
    return time.monotonic() - t0


def test_after_sending_the_poll_blocks_when_nothing_was_scheduled(rig: Rig):
    proto = Recorder()
    transport, client = rig.pair(proto)
    transport.write(b"answer")
    # Sent, and then the poll waits for the client (which sends nothing here)
    # for the timeout asyncio chose: no extra non-blocking poll per answer.
    assert timed_select(rig.selector, 0.2) >= 0.15
    assert recv_exactly(client, 6) == b"answer"


def test_after_sending_the_poll_does_not_block_when_sending_scheduled_work(rig: Rig):
    # A connection that closes once its output is sent schedules connection_lost.
    proto = Recorder()
    transport, client = rig.pair(proto)
    transport.write(b"bye")
    transport.close()
    assert timed_select(rig.selector, 5) < 1
    assert recv_exactly(client, 3) == b"bye"
    rig.turn(lambda: "lost" in proto.events)
    assert proto.events == ["made", "lost"]
    # A timer set while sending, and output queued while sending (a connection
    # resuming writes its next answer): both need the loop before any poll blocks.
    rig.selector.unsent.append(Sends(lambda: rig.loop.call_later(30, lambda: None)))
    assert timed_select(rig.selector, 5) < 1
    rig.selector.unsent.append(Sends(lambda: rig.selector.unsent.append(Sends())))
    assert timed_select(rig.selector, 5) < 1


def test_without_the_loop_watched_every_poll_after_a_send_is_non_blocking():
    selector = ServingSelector(lambda: 0.0, lambda exc, transport: None)
    try:
        selector.unsent.append(Sends())
        assert timed_select(selector, 5) < 1
    finally:
        selector.close()


def test_no_nap_right_after_a_send():
    # The nap (Engine._nap: the workers have plenty queued) comes before a poll
    # that would block, but not in a loop iteration that sent answers: before
    # such a poll blocked, it did not nap, and napping there read W5's requests
    # later.
    selector = ServingSelector(lambda: 0.0, lambda exc, transport: None,
                               inbox=AnswerInbox(lambda: None), nap_for=lambda: 0.3)
    loop = asyncio.SelectorEventLoop(selector)
    try:
        selector.watch_loop(loop)
        assert timed_select(selector, 0.01) >= 0.25  # nothing sent: it naps
        selector.unsent.append(Sends())
        assert timed_select(selector, 0.01) < 0.2  # sent: it polls (and blocks) at once
    finally:
        loop.close()
