"""The h11 backend: pure Python, always available, the reference for correctness.

A fresh ``h11.Connection`` is made for every request and fed exactly that request's
bytes (the shared framer knows where it ends), so h11's response-side state machine
is never needed and pipelined bytes never reach it.  That costs ~40 µs a request, so it
is only done when the head is not plain or the body is chunked: plain heads are
decoded by the framer (``plain_head``), which gives the same events.
"""

from __future__ import annotations

import h11

from .core import MESSAGE_END
from .events import BodyData, Event, Limits, ProtocolError, RequestHead
from .head_meaning import interpret_head
from .head_syntax import RequestLine, method_str, split_fields


class H11Decoder:
    """Decodes one request at a time with h11, under the shared framing."""

    __slots__ = ("_limits", "_conn", "ended")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._conn: h11.Connection | None = None
        self.ended = False

    def start(self, head: bytes, line: RequestLine, out: list[Event]) -> RequestHead:
        """Parse the head with h11 and emit its RequestHead."""
        # Field values come from the shared tokenizer: h11 merges repeated
        # Content-Length fields and lower-cases Transfer-Encoding values, which would
        # hide exactly the cases the shared rules must see.  The shared rules run
        # first, so h11's own refusals can only be gaps between the two.
        version = "1.1" if line.version == b"1.1" else "1.0"
        request = interpret_head(
            method_str(line.method),
            line.target,
            version,
            tuple(split_fields(head, line.end)),
            self._limits,
        )
        # The framer has already bounded the head; h11's own limit only needs to
        # admit anything the framer admits (the head, or a whole trailer section).
        conn = h11.Connection(
            h11.SERVER, max_incomplete_event_size=2 * self._limits.max_header_bytes + 1024
        )
        self._conn = conn
        self.ended = False
        conn.receive_data(head)
        event = _next_event(conn)
        if type(event) is not h11.Request:
            raise ProtocolError(400, "h11 found no request in the head")
        if (event.method, event.http_version) != (line.method, line.version):
            raise ProtocolError(400, "h11 read the request line differently")
        out.append(request)
        self._pump(conn, out)
        return request

    def body(self, data: bytes, out: list[Event]) -> None:
        """Feed validated body bytes to h11 and emit what it decodes."""
        conn = self._conn
        assert conn is not None
        conn.receive_data(bytes(data))
        self._pump(conn, out)

    def _pump(self, conn: h11.Connection, out: list[Event]) -> None:
        while True:
            event = _next_event(conn)
            kind = type(event)
            if kind is h11.Data:
                if event.data:
                    out.append(BodyData(bytes(event.data)))
            elif kind is h11.EndOfMessage:
                out.append(MESSAGE_END)
                self.ended = True
                return
            elif event is h11.NEED_DATA:
                return
            else:
                raise ProtocolError(400, f"unexpected h11 event {kind.__name__}")


def _next_event(conn: h11.Connection) -> object:
    try:
        return conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise ProtocolError(exc.error_status_hint, f"h11: {exc}") from exc
