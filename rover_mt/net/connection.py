"""① ⑥ One HTTP/1.1 connection on the I/O thread (asyncio Protocol callbacks).

Bytes go to the parser backend; a complete request goes to the engine; the
response bytes come back through :meth:`HttpConnection.on_result` and are written
here. One request per connection is in the engine at a time, so pipelined
requests are answered in order; their bytes wait in the parser meanwhile, and
reading pauses when too much is waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..protocol import BodyData, MessageEnd, ProtocolError, RequestHead, make_parser
from ..protocol.response import CONTINUE_100, encode_error

# Connection states, checked by the server's timeout sweep.
IDLE, HEAD, BODY, BUSY = 0, 1, 2, 3

# Pause reading when this much request data is buffered behind a busy request.
MAX_PIPELINE_BUFFER = 65536


class HttpConnection(asyncio.Protocol):
    """Parser + state for one client socket."""

    __slots__ = ("server", "engine", "transport", "parser", "state", "since", "client_ip",
                 "head", "body", "body_size", "ticket", "started", "closed", "buffered",
                 "read_paused", "write_paused", "write_blocked_since", "keep_alive",
                 "pending_error")

    def __init__(self, server: Any) -> None:
        self.server = server
        self.engine = server.engine
        self.transport: asyncio.Transport | None = None
        self.parser = make_parser(server.http_backend, server.limits)
        self.state = IDLE
        self.since = time.monotonic()  # when the current state began (or last body byte)
        self.client_ip = b""
        self.head: RequestHead | None = None
        self.body: list[bytes] = []
        self.body_size = 0
        self.ticket: Any = None
        self.started = 0.0
        self.closed = False
        self.buffered = 0
        self.read_paused = False
        self.write_paused = False
        self.write_blocked_since = 0.0
        self.keep_alive = True
        self.pending_error: ProtocolError | None = None

    # -- asyncio callbacks --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = (peer[0] if isinstance(peer, tuple) else "unix").encode()
        self.server.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ticket = self.ticket
        if ticket is not None and not ticket.done:
            # The client left mid-request: nobody will read the answer. The worker
            # skips it if it has not started; the request is counted as 499.
            ticket.done = True
            self.engine.client_gone(ticket)
        self.ticket = None
        self.head = None
        self.body = []
        self.transport = None
        self.server.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        if self.state == IDLE:
            self.state = HEAD
            self.since = time.monotonic()
        elif self.state == BUSY:
            self.buffered += len(data)
            if self.buffered > MAX_PIPELINE_BUFFER and not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()  # type: ignore[union-attr]
        try:
            events = self.parser.feed(data)
        except ProtocolError as err:
            self._protocol_error(err)
            return
        if events:
            self._process(events)

    def eof_received(self) -> bool | None:
        self.parser.feed_eof()
        if self.state == BUSY:
            # Half-closed client (sent its request, then shut down writing):
            # still answer it, then close.
            self.keep_alive = False
            return True
        return None

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_blocked_since = time.monotonic()
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_blocked_since = 0.0
        if self.read_paused and self.state != BUSY and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    # -- requests -------------------------------------------------------------
    def _process(self, events: list[Any]) -> None:
        """Handle parser events; loops (not recursion) over pipelined requests."""
        while events:
            result = None
            for ev in events:
                if type(ev) is RequestHead:
                    self.head = ev
                    self.body = []
                    self.body_size = 0
                    self.state = BODY
                    self.since = time.monotonic()
                    if ev.expect_continue and (ev.chunked or ev.content_length):
                        self.transport.write(CONTINUE_100)  # type: ignore[union-attr]
                elif type(ev) is BodyData:
                    self.body.append(ev.data)
                    self.body_size += len(ev.data)
                    self.since = time.monotonic()
                elif type(ev) is MessageEnd:
                    result = self._request_complete()
            if result is None or self.closed:
                return  # queued: on_result continues later
            events = self._write_result(result)

    def _request_complete(self) -> Any:
        head = self.head
        assert head is not None
        body = b"".join(self.body) if self.body else None
        self.body = []
        self.state = BUSY
        self.buffered = 0
        self.started = time.monotonic()
        self.keep_alive = head.keep_alive and self.keep_alive
        ticket = self.engine.new_ticket(self)
        self.ticket = ticket
        return self.engine.handle_request(
            ticket, head.method, head.target, head.headers, body, self.client_ip,
            self.keep_alive and not self.server.closing, self.started)

    def on_result(self, ticket: Any, result: Any) -> None:
        """The engine's answer for the queued request (on the loop thread)."""
        if ticket is not self.ticket or self.closed:
            return  # the connection moved on or is gone; never write stale results
        events = self._write_result(result)
        if events:
            self._process(events)

    def _write_result(self, result: Any) -> list[Any]:
        """Write one response; return the events of the next pipelined request."""
        status, data, _nbytes = result
        transport = self.transport
        self.ticket = None
        self.head = None
        if transport is None:
            return []
        transport.write(data)
        if self.pending_error is not None:
            err, self.pending_error = self.pending_error, None
            self.state = IDLE
            self._protocol_error(err)
            return []
        if not self.keep_alive or self.server.closing or data.find(b"\r\nConnection: close\r\n", 0, 1024) != -1:
            self.state = IDLE
            transport.close()
            return []
        self.state = IDLE
        self.since = time.monotonic()
        if self.read_paused and not self.write_paused:
            self.read_paused = False
            transport.resume_reading()
        try:
            events = self.parser.start_next()
        except ProtocolError as err:
            self._protocol_error(err)
            return []
        if self.parser.in_progress and not events:
            self.state = HEAD
        return events

    def _protocol_error(self, err: ProtocolError) -> None:
        """Bad input: answer the status the parser chose, then close."""
        transport = self.transport
        if transport is None:
            return
        if self.state == BUSY:
            # A response is pending for an earlier request: answer it first, then
            # send this error and close (responses stay in request order).
            self.pending_error = err
            transport.pause_reading()
            self.read_paused = True
            return
        self.engine.record_protocol_error(err.status, self.client_ip)
        transport.write(encode_error(err.status, err.reason, date=self.engine.date()))
        self.state = IDLE
        transport.close()

    # -- used by the server's sweep -------------------------------------------
    def expire(self, now: float, cfg: Any) -> None:
        """Close this connection if it has overstayed its current state."""
        st = self.state
        transport = self.transport
        if transport is None:
            return
        if st == IDLE:
            if now - self.since > cfg.keepalive_timeout or self.server.closing:
                transport.close()
        elif st == HEAD:
            if now - self.since > cfg.header_timeout:
                transport.abort()
        elif st == BODY:
            if now - self.since > cfg.body_timeout:
                transport.abort()
        if self.write_paused and now - self.write_blocked_since > cfg.send_timeout:
            transport.abort()
