"""① ⑥ One HTTP/1.1 connection on the I/O thread (asyncio Protocol callbacks,
from a :class:`~rover_mt.net.transport.SocketTransport`).

Bytes go to the parser backend; a complete request goes to the engine; the
response bytes come back through :meth:`HttpConnection.on_result` and are written
here. One request per connection is in the engine at a time, so pipelined
requests are answered in order; their bytes wait in the parser meanwhile, and
reading pauses when too much is waiting, or while unsent output is over the cap.

There are no per-connection timers: the listener's sweep calls :meth:`expire`
every 0.25 s, which compares the times recorded here with the configured limits
(docs/server-behavior.md, "Timeouts").
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
import time
from typing import Any

from ..protocol import BodyData, MessageEnd, ProtocolError, RequestHead, make_parser
from ..protocol.response import CONTINUE_100, encode_error

# Connection states, checked by the server's timeout sweep.
IDLE, HEAD, BODY, BUSY = 0, 1, 2, 3
# A response went out but the unsent output is over `max_output_buffer`: the next
# pipelined request waits until the client reads (or `send_timeout` ends it).
DRAIN = 4
# The last answer went out with FIN; what the client still sends is read and dropped
# until it closes too. Closing a socket with unread input makes the kernel send RST,
# which can destroy the answer (e.g. a 431) before the client has read it.
LINGER = 5
LINGER_TIMEOUT = 2.0  # seconds to wait for the client's close after our FIN
LINGER_MAX_BYTES = 1 << 20  # input dropped while lingering before giving up

# Pause reading when this much request data is buffered behind a busy request.
MAX_PIPELINE_BUFFER = 65536

# SO_LINGER on, 0 s: close() resets the connection and drops unsent data at once.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)
_INT_ZERO = struct.pack("i", 0)


def _says_close(response: bytes) -> bool:
    """Whether an encoded response's head says ``Connection: close`` (the engine
    began stopping after the request was read, or the handler set the header)."""
    return response.find(b"\r\nConnection: close\r\n", 0, 1024) != -1


class HttpConnection(asyncio.Protocol):
    """Parser + state for one client socket."""

    __slots__ = ("server", "engine", "transport", "parser", "state", "since", "client_ip",
                 "head", "body", "body_size", "ticket", "started", "closed", "buffered",
                 "read_paused", "write_paused", "write_blocked_since", "keep_alive",
                 "pending_error", "last_read", "close_started", "peer_eof")

    def __init__(self, server: Any) -> None:
        self.server = server
        self.engine = server.engine
        self.transport: asyncio.Transport | None = None
        self.parser = make_parser(server.http_backend, server.limits)
        self.state = IDLE
        # When the current state began: the first byte of a head (HEAD), the end of
        # the head (BODY), the last response (IDLE). Never moved by later bytes, so a
        # trickle cannot stretch a deadline.
        self.since = time.monotonic()
        self.last_read = self.since  # last bytes received while in BODY (idle check)
        self.client_ip = b""
        self.head: RequestHead | None = None
        # The body's pieces; () until the first one (most requests have none,
        # and a list per request was two allocations for nothing).
        self.body: list[bytes] | tuple[()] = ()
        self.body_size = 0
        self.ticket: Any = None
        self.started = 0.0
        self.closed = False
        self.buffered = 0
        self.read_paused = False
        self.write_paused = False
        self.write_blocked_since = 0.0
        self.close_started = 0.0  # when we asked the transport to close (flush, then close)
        self.keep_alive = True
        self.peer_eof = False
        self.pending_error: ProtocolError | None = None

    # -- asyncio callbacks --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = (peer[0] if isinstance(peer, tuple) else "unix").encode()
        cap = self.server.config.max_output_buffer
        # pause_writing() fires above the cap; reading resumes once a quarter is left.
        transport.set_write_buffer_limits(high=cap, low=cap // 4)  # type: ignore[attr-defined]
        self.server.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ticket = self.ticket
        if ticket is not None and not ticket.done:
            # The client left mid-request: nobody will read the answer. The worker
            # skips it if it has not started; the request is counted as 499.
            ticket.done = True
            self.engine.client_gone(ticket)
        # Drop everything that could keep request data or the socket alive: the
        # engine may still hold this object (as a ticket owner) for a while.
        self.ticket = None
        self.head = None
        self.body = ()
        self.pending_error = None
        self.transport = None
        self.server.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == LINGER:
            self.buffered += len(data)
            if self.buffered > LINGER_MAX_BYTES:
                self._close()
            return
        now = 0.0
        if state == IDLE:
            self.state = HEAD
            now = self.since = time.monotonic()
        elif state == BODY:
            now = self.last_read = time.monotonic()
        elif state == BUSY or state == DRAIN:
            self.buffered += len(data)
            if self.buffered > MAX_PIPELINE_BUFFER and not self.read_paused:
                self._pause_reading()
        try:
            events = self.parser.feed(data)
        except ProtocolError as err:
            self._protocol_error(err)
            return
        if events:
            self._process(events, now)

    def eof_received(self) -> bool | None:
        self.peer_eof = True
        if self.state == LINGER:
            return None  # both sides are done: close
        self.parser.feed_eof()
        if self.state == BUSY or self.state == DRAIN:
            # Half-closed client (sent its requests, then shut down writing): still
            # answer what was sent in full, then close (see _write_result).
            return True
        return None

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_blocked_since = time.monotonic()
        if not self.read_paused:
            self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_blocked_since = 0.0
        transport = self.transport
        if transport is None or self.close_started:
            return
        if self.state == DRAIN:
            # The client caught up: go on with the pipelined requests held back.
            self.state = IDLE
            self.since = time.monotonic()
            events = self._next_request()
            if events:
                self._process(events)
            return
        if self.read_paused and self.state != BUSY and self.pending_error is None:
            self._resume_reading()

    # -- requests -------------------------------------------------------------
    def _process(self, events: list[Any], now: float = 0.0) -> None:
        """Handle parser events; loops (not recursion) over pipelined requests.
        `now`: when the bytes that made `events` were read, if known."""
        while events:
            result = None
            head_at = 0.0  # when this batch of events began a request, if it did
            for ev in events:
                if type(ev) is RequestHead:
                    self.head = ev
                    self.body = ()
                    self.body_size = 0
                    self.state = BODY
                    head_at = self.since = self.last_read = now or time.monotonic()
                    if ev.expect_continue and (ev.chunked or ev.content_length):
                        self.transport.write(CONTINUE_100)  # type: ignore[union-attr]
                elif type(ev) is BodyData:
                    if self.body:
                        self.body.append(ev.data)  # type: ignore[union-attr]
                    else:
                        self.body = [ev.data]
                    self.body_size += len(ev.data)
                elif type(ev) is MessageEnd:
                    # Read in the same piece as its head: it was complete then.
                    result = self._request_complete(head_at)
            if result is None:
                if self.peer_eof and (self.state == HEAD or self.state == BODY):
                    # A pipelined request begun before the client's half-close
                    # can never be completed now: close, as eof_received does
                    # when the close comes while the request is read.
                    self._close()
                return  # queued: on_result continues later
            if self.closed:
                return
            now = 0.0  # the next pipelined request is read later: its own time
            events = self._write_result(result)

    def _request_complete(self, now: float = 0.0) -> Any:
        """Hand the request just read to the engine; `now`: the time, if known."""
        head = self.head
        assert head is not None
        body = b"".join(self.body) if self.body else None
        self.body = ()
        self.state = BUSY
        self.buffered = 0
        self.started = now or time.monotonic()
        self.keep_alive = head.keep_alive and self.keep_alive
        engine = self.engine
        ticket = self.ticket = engine.new_ticket(self)
        return engine.handle_request(
            ticket, head.method, head.target, head.headers, body, self.client_ip,
            self.keep_alive and not self.server.closing, self.started)

    def send_early(self, ticket: Any, result: Any) -> tuple[Any, bool] | None:
        """Worker thread, GIL held, while the loop sleeps in its poll: send the
        answer from here instead of waking the loop to send it (one thread
        wake-up less per request; see docs/architecture.md, "Answers sent by
        the worker"). The loop still does the rest when it next wakes (on_result
        with what is left to send, counting, the next request).

        Only for an answer that keeps the connection open and can go out in
        order: the connection waits for exactly this answer, no output is queued
        and no pipelined byte or deferred error is held. While the GIL is given
        up for the send, the loop may run, but it writes nothing to a busy
        connection (input is only buffered, errors deferred), and the ticket is
        done, so the watchdog does not answer it either.

        Returns the result the loop should finish (the bytes not sent) and
        whether to wake it, or None to leave everything to the loop."""
        transport = self.transport
        if (ticket is not self.ticket or ticket.done or transport is None or self.closed
                or self.pending_error is not None or self.write_paused or not self.keep_alive
                or self.server.closing or self.parser.holds_input
                or not transport.idle_for_worker()):
            return None
        status, data, nbytes = result
        if _says_close(data):
            return None
        ticket.done = True
        ticket.sent_at = time.monotonic()
        sent = transport.send_from_worker(data)
        rest = data[sent:] if sent else data
        # Wake the loop when it has work now: bytes left, or input that came in
        # during the send (a pipelined request waits for this answer's end).
        wake = bool(rest) or self.parser.holds_input or self.closed
        return (status, rest, nbytes), wake

    def on_result(self, ticket: Any, result: Any) -> None:
        """The engine's answer for the queued request (on the loop thread)."""
        if ticket is not self.ticket or self.closed:
            return  # the connection moved on or is gone; never write stale results
        events = self._write_result(result)
        if events:
            self._process(events)

    def _write_result(self, result: Any) -> list[Any]:
        """Write one response; return the events of the next pipelined request.
        `result` is (status, bytes, body length, ...): inline answers keep the
        runner's two extra items (log message, traceback)."""
        data = result[1]
        transport = self.transport
        self.ticket = None
        self.head = None
        if transport is None:
            return []
        transport.write(data)
        self.state = IDLE
        self.since = time.monotonic()
        if self.pending_error is not None:
            err, self.pending_error = self.pending_error, None
            self._protocol_error(err)
            return []
        if not self.keep_alive or self.server.closing or _says_close(data):
            self._close_lingering()
            return []
        if self.write_paused:
            # Output over the cap: hold the next pipelined request until the client
            # reads (resume_writing), so a client that only writes cannot grow it.
            self.state = DRAIN
            return []
        return self._next_request()

    def _next_request(self) -> list[Any]:
        """Start parsing the next pipelined request (state is IDLE)."""
        try:
            events = self.parser.start_next()
        except ProtocolError as err:
            self._protocol_error(err)
            return []
        if events:
            return events
        if self.peer_eof:
            self._close()  # half-closed and nothing complete left to answer
        elif self.parser.in_progress:
            self.state = HEAD
        if self.read_paused and not self.write_paused and not self.closed:
            self._resume_reading()
        return []

    def _protocol_error(self, err: ProtocolError) -> None:
        """Bad input: answer the status the parser chose, then close."""
        transport = self.transport
        if transport is None:
            return
        if self.state == BUSY:
            # A response is pending for an earlier request: answer it first, then
            # send this error and close (responses stay in request order).
            self.pending_error = err
            if not self.read_paused:
                self._pause_reading()
            return
        self.engine.record_protocol_error(err.status, self.client_ip)
        transport.write(encode_error(err.status, err.reason, date=self.engine.date(),
                                     request_id=self.engine.new_request_id(),
                                     head_only=self.parser.head_method))
        self._close_lingering()

    # -- transport helpers --------------------------------------------------------
    def _pause_reading(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.read_paused = True
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.read_paused = False
            transport.resume_reading()

    def _close_lingering(self) -> None:
        """Send FIN after the pending output, then drop input until the client
        closes (or LINGER_TIMEOUT passes), so the last answer is not lost to a RST."""
        transport = self.transport
        if transport is None or self.close_started:
            return
        if self.peer_eof or not transport.can_write_eof():
            self._close()
            return
        self.state = LINGER
        self.since = time.monotonic()
        self.buffered = 0
        self.ticket = None
        self.head = None
        self.body = ()
        if not self._send_fin():
            return
        if self.read_paused:
            self._resume_reading()

    def _abort(self) -> None:
        """Give up on the client: reset the connection (RST) and drop unsent data.

        A plain close would leave the kernel trying to deliver queued output (and
        our FIN behind it) to a client that does not read, for minutes.
        """
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            except OSError:
                pass
        transport.abort()

    def _close(self) -> None:
        """Close once the client has taken every byte we sent (FIN goes out after
        them); a client that does not read is reset after `send_timeout` (expire)."""
        transport = self.transport
        if transport is None or self.close_started:
            return
        self.close_started = time.monotonic()
        self.state = LINGER  # whatever still arrives is dropped
        if self._output_pending():
            if transport.can_write_eof():
                self._send_fin()
            return
        transport.close()

    def _send_fin(self) -> bool:
        """Shut down our sending side after the queued output; False (and the
        connection aborted) when the peer is already gone."""
        transport = self.transport
        if transport is None:
            return False
        try:
            transport.write_eof()
        except OSError:  # e.g. ENOTCONN: the client reset the connection meanwhile
            transport.abort()
            return False
        return True

    def _output_pending(self) -> bool:
        """Unsent bytes in asyncio's buffer, or unsent/unacknowledged in the kernel's."""
        transport = self.transport
        if transport is None:
            return False
        if transport.get_write_buffer_size():
            return True
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, _INT_ZERO)
        except OSError:
            return False
        return struct.unpack("i", queued)[0] > 0

    def close_if_idle(self) -> None:
        """Graceful stop: close now unless a request has been received in full or
        its body is arriving (those are answered first, with Connection: close)."""
        if self.state == IDLE or self.state == HEAD or self.state == LINGER:
            self._close()

    # -- used by the server's sweep -------------------------------------------
    def expire(self, now: float, cfg: Any) -> None:
        """Close this connection if it has overstayed its current state.

        Deadlines: a head must be complete `header_timeout` after its first byte; a
        body may pause at most `body_timeout` and must average `body_min_rate`
        bytes/s once it has run for `body_timeout`; an idle keep-alive connection
        lasts `keepalive_timeout`; unsent output may be stuck for `send_timeout`.
        """
        transport = self.transport
        if transport is None:
            return
        if self.close_started:
            # Closing waits for the client to take our output; one that never
            # reads would hold the socket (and kernel memory) forever.
            if not self._output_pending():
                transport.close()
            elif now - self.close_started > cfg.send_timeout:
                self._abort()
            return
        st = self.state
        if st == LINGER:
            if now - self.since > LINGER_TIMEOUT:
                self._close()
            return
        if st == IDLE:
            if now - self.since > cfg.keepalive_timeout or self.server.closing:
                self._close()  # silent: nothing is sent
        elif st == HEAD:
            if now - self.since > cfg.header_timeout:
                self._abort()
        elif st == BODY:
            elapsed = now - self.since
            if now - self.last_read > cfg.body_timeout:
                self._abort()
            elif elapsed > cfg.body_timeout and self.body_size < cfg.body_min_rate * elapsed:
                self._abort()
        if self.write_paused and now - self.write_blocked_since > cfg.send_timeout:
            self._abort()
