"""The framing state machine every backend shares.

``FramedParser`` owns the byte buffer and decides where each request starts and ends
(head scanner, Content-Length count, chunk scanner).  A backend-specific *decoder*
turns exactly those bytes into events.  Keeping framing here means the two backends
cannot disagree about where a message ends, which is what request smuggling exploits.

Plain heads (nearly all real traffic, see :mod:`.plain_head`) skip the backend: the
framer builds their RequestHead, body pieces and MessageEnd itself.  Only unusual heads
and chunked bodies are handed to the decoder.
"""

from __future__ import annotations

from typing import Protocol

from .chunk_scan import ChunkScanner
from .events import BodyData, Event, Limits, MessageEnd, ProtocolError, RequestHead
from .head_limits import HeadScanner
from .head_syntax import RequestLine, check_head
from .plain_head import PlainHeadReader

MESSAGE_END = MessageEnd()  # fieldless and immutable, so one instance serves everyone
_new_tuple = tuple.__new__

_HEAD, _LENGTH, _CHUNKED, _DONE, _DEAD = range(5)


class Decoder(Protocol):
    """What a backend provides: decoding of bytes the framer already validated."""

    ended: bool  # True once the decoder has emitted MessageEnd for the current request

    def start(self, head: bytes, line: RequestLine, out: list[Event]) -> RequestHead:
        """Decode a complete, syntax-checked head; append its RequestHead (and
        MessageEnd if the request has no body) to ``out`` and return the head."""
        ...

    def body(self, data: bytes, out: list[Event]) -> None:
        """Decode validated body bytes of the current request, appending events."""
        ...


class FramedParser:
    """A :class:`rover_mt.protocol.Parser` built from a shared framer and a decoder."""

    __slots__ = (
        "_decoder",
        "_limits",
        "_buf",
        "_state",
        "_head_scanner",
        "_head_started",
        "_plain",
        "_direct",
        "_chunks",
        "_remaining",
        "_error",
        "_eof",
        "_head_method",
    )

    def __init__(self, decoder: Decoder, limits: Limits, *, fast_path: bool = True) -> None:
        """``fast_path=False`` sends every head through the decoder (for tests that
        compare the two paths, and for measuring what the fast path saves)."""
        self._decoder = decoder
        self._limits = limits
        self._buf = bytearray()
        self._state = _HEAD
        self._head_scanner = HeadScanner(limits)
        self._head_started = False
        self._plain: PlainHeadReader | None = PlainHeadReader(limits) if fast_path else None
        self._direct = False  # the current message bypasses the decoder (plain head)
        self._chunks: ChunkScanner | None = None
        self._remaining = 0
        self._error: ProtocolError | None = None
        self._eof = False
        self._head_method = False

    @property
    def in_progress(self) -> bool:
        """True while bytes of an incomplete request head or body are held."""
        state = self._state
        if state == _HEAD:
            return self._head_started or bool(self._buf)
        return state == _LENGTH or state == _CHUNKED

    @property
    def holds_input(self) -> bool:
        """True when bytes past the current request (a pipelined request) are held."""
        return bool(self._buf)

    @property
    def head_method(self) -> bool:
        """True when the current (or last refused) request starts with ``HEAD ``."""
        return self._head_method

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data`` as far as possible; see :class:`rover_mt.protocol.Parser`."""
        if self._error is not None:
            raise self._error
        if self._eof:
            raise RuntimeError("feed() after feed_eof()")
        if self._state == _DONE:
            self._buf += data  # pipelined: held until start_next()
            return []
        if self._buf:
            self._buf += data
            return self._run(self._buf)
        return self._run(data)

    def start_next(self) -> list[Event]:
        """Begin the next request and parse whatever is already buffered."""
        if self._error is not None:
            raise self._error
        if self._state != _DONE:
            raise RuntimeError("start_next() before the current request ended")
        self._state = _HEAD
        self._head_started = False  # the scanner is reset when the next head begins
        if not self._buf:
            return []
        return self._run(self._buf)

    def feed_eof(self) -> None:
        """Note that the peer closed; a request cut short is simply abandoned."""
        self._eof = True

    def _run(self, buf: bytes | bytearray) -> list[Event]:
        events: list[Event] = []
        try:
            used = self._advance(buf, events)
        except ProtocolError as exc:
            self._error = exc
            self._state = _DEAD
            self._buf = bytearray()
            raise
        if buf is self._buf:
            if used:
                del self._buf[:used]
        elif used < len(buf):
            self._buf = bytearray(buf[used:])
        return events

    def _advance(self, buf: bytes | bytearray, events: list[Event]) -> int:
        """Consume what can be consumed from ``buf``; return how many bytes were used."""
        pos = 0
        end = len(buf)
        decoder = self._decoder
        while pos < end:
            state = self._state
            if state == _HEAD:
                plain = self._plain
                found = None
                first_look = not self._head_started
                if first_look:
                    if buf[pos] == 13:  # CR; indexing is cheaper than startswith
                        # RFC 9112 2.2: tolerate empty lines before a request line.
                        while buf.startswith(b"\r\n", pos):
                            pos += 2
                        if pos == end or (pos + 1 == end and buf[pos] == 13):
                            break
                    self._head_started = True
                # Before anything can refuse the head (the plain reader checks Host,
                # lengths ...); again on every piece, as the buffer holds it from its start.
                self._head_method = buf.startswith(b"HEAD ", pos)
                if first_look and plain is not None:
                    found = plain.read(buf, pos)
                if found is None:
                    if first_look:  # a new head: the scanner starts afresh
                        self._head_scanner.reset()
                    size = self._head_scanner.scan(buf, pos)
                    if size < 0:
                        break
                    # A head that arrived in pieces gets one plain match once complete
                    # (matching every piece again would cost quadratic time).
                    if plain is not None and not first_look:
                        found = plain.read(buf, pos, pos + size)
                if found is not None:
                    request, size = found
                    pos += size
                    events.append(request)
                    if request.content_length:
                        self._state = _LENGTH
                        self._remaining = request.content_length
                        self._direct = True
                        continue
                    events.append(MESSAGE_END)
                    self._state = _DONE
                    break
                head = bytes(buf[pos : pos + size])
                pos += size
                self._direct = False
                request = decoder.start(head, check_head(head), events)
                if request.chunked:
                    self._state = _CHUNKED
                    self._chunks = ChunkScanner(self._limits)
                elif request.content_length:
                    self._state = _LENGTH
                    self._remaining = request.content_length
                else:
                    self._end_message(events)
                    break
                _expect_open(decoder)
            elif state == _LENGTH:
                take = min(self._remaining, end - pos)
                if self._direct:
                    piece = buf[pos : pos + take]
                    if type(piece) is not bytes:
                        piece = bytes(piece)
                    # tuple.__new__ skips BodyData's Python-level __new__.
                    events.append(_new_tuple(BodyData, (piece,)))
                else:
                    decoder.body(buf[pos : pos + take], events)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if self._direct:
                        events.append(MESSAGE_END)
                        self._state = _DONE
                    else:
                        self._end_message(events)
                    break
                if not self._direct:
                    _expect_open(decoder)
            elif state == _CHUNKED:
                chunks = self._chunks
                assert chunks is not None
                used = chunks.scan(buf, pos)
                if used:
                    decoder.body(buf[pos : pos + used], events)
                    pos += used
                if chunks.done:
                    self._end_message(events)
                    break
                _expect_open(decoder)
                if not used:
                    break
            else:
                break
        return pos

    def _end_message(self, events: list[Event]) -> None:
        if not self._decoder.ended:
            raise ProtocolError(400, "parser backend did not end the message with the framing")
        self._state = _DONE
        self._chunks = None


def _expect_open(decoder: Decoder) -> None:
    # Defensive: the backend must not see a message end the shared framing did not.
    if decoder.ended:
        raise ProtocolError(400, "parser backend ended the message early")
