"""Validation of chunked framing (RFC 9112 7.1), shared by every backend.

The scanner walks chunk size lines, chunk data and trailer lines, and tells the parser
how many bytes are known-good so far and whether the message has ended.  Only those
bytes are handed to the backend's decoder, so the backend never sees framing this
module would refuse, and both backends end each message at the same byte.
"""

from __future__ import annotations

from . import grammar
from .events import Limits, ProtocolError

# A chunk size line is a hex number plus rare extensions; anything longer is abuse.
MAX_CHUNK_LINE = 1024
# 16 hex digits already exceed any body limit; more could not be a sane size.
_MAX_SIZE_DIGITS = 16

_FRAMING_FIELDS = frozenset((b"content-length", b"transfer-encoding"))

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkScanner:
    """Incremental validator for one chunked body.

    Call :meth:`scan` with the not-yet-accepted bytes; it returns how many of them are
    accepted.  Bytes of an incomplete size line or trailer line are not accepted until
    the line is complete, so the caller keeps them and passes them again, extended.
    """

    __slots__ = ("_limits", "_state", "_remaining", "_body_size", "_trailer_bytes")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _SIZE
        self._remaining = 0  # bytes left in the current chunk's data
        self._body_size = 0
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        """True once the last chunk and the trailer section have been read."""
        return self._state == _DONE

    def scan(self, buf: bytes | bytearray, start: int = 0) -> int:
        """Accept as many bytes of ``buf[start:]`` as are valid and complete; return the count."""
        pos = start
        end = len(buf)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    if buf[pos] != 13:
                        raise ProtocolError(400, "chunk data not followed by CRLF")
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ProtocolError(400, "chunk data not followed by CRLF")
                pos += 2
                self._state = _SIZE
            elif state == _SIZE:
                nl = buf.find(b"\n", pos, pos + MAX_CHUNK_LINE)
                if nl < 0:
                    if end - pos >= MAX_CHUNK_LINE:
                        raise ProtocolError(400, "chunk size line too long")
                    break
                pos = self._size_line(buf, pos, nl + 1)
            elif state == _TRAILER:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    self._count_trailer(end - pos)
                    break
                pos = self._trailer_line(buf, pos, nl + 1)
            else:  # _DONE: bytes after the message belong to the next request
                break
        return pos - start

    def _size_line(self, buf: bytes | bytearray, start: int, stop: int) -> int:
        m = grammar.CHUNK_LINE.fullmatch(buf, start, stop)
        if m is None:
            raise ProtocolError(400, "invalid chunk size line")
        digits = m.group(1)
        if len(digits) > _MAX_SIZE_DIGITS:
            raise ProtocolError(400, "chunk size overflow")
        size = int(digits, 16)
        self._body_size += size
        if self._body_size > self._limits.max_body_size:
            raise ProtocolError(413, "request body too large")
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._state = _TRAILER
        return stop

    def _trailer_line(self, buf: bytes | bytearray, start: int, stop: int) -> int:
        # Trailers are read and discarded, but still must be well-formed and bounded.
        line = bytes(buf[start:stop])
        if line == b"\r\n":
            self._state = _DONE
            return stop
        self._count_trailer(stop - start)
        m = grammar.FIELD_LINE.fullmatch(line)
        if m is None:
            raise ProtocolError(400, "malformed trailer field")
        if m.group(1).lower() in _FRAMING_FIELDS:
            # RFC 9110 6.5.1: framing fields may not be trailers; llhttp would even
            # apply them, so they are refused rather than dropped.
            raise ProtocolError(400, "framing field in trailer section")
        self._trailer_bytes += stop - start
        return stop

    def _count_trailer(self, pending: int) -> None:
        if self._trailer_bytes + pending > self._limits.max_header_bytes:
            raise ProtocolError(431, "trailer section too large")
