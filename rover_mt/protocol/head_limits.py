"""Finding the end of a request head while enforcing the size limits, however bytes arrive.

The scanner is incremental: it remembers how far it has looked, so feeding a head one
byte at a time costs the same as feeding it whole.  The status it raises must not
depend on how the bytes were split, so every limit is defined by the shortest prefix of
the stream that breaks it, and when several limits break, the one whose prefix is
shortest wins.  Scanning a whole head in one call reaches the same verdict as scanning
it byte by byte, because lines are examined in stream order.
"""

from __future__ import annotations

from .events import Limits, ProtocolError

_LF = 10
_CR = 13


class HeadScanner:
    """Locates the empty line that ends a request head and enforces 414/431 limits.

    A line's length counts its bytes before the LF, including a CR, so a line of
    exactly ``max_request_line`` bytes plus CRLF is allowed and one byte more is not.
    The header section size counts everything from the request line to the final
    empty line inclusive.
    """

    __slots__ = ("_limits", "_short_head", "_scan_pos", "_line_start", "_lines")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        # A head no longer than this cannot break a line or section limit.
        self._short_head = min(
            limits.max_request_line + 1, limits.max_header_line + 1, limits.max_header_bytes
        )
        self.reset()

    def reset(self) -> None:
        """Forget the current head, ready for the next request."""
        self._scan_pos = 0
        self._line_start = 0
        self._lines = 0  # complete non-empty lines so far, the request line included

    def scan(self, buf: bytes | bytearray, start: int = 0) -> int:
        """Return the head's length (through its empty line), or -1 if not there yet.

        The head begins at ``buf[start]``.  On later calls ``buf[start:]`` must begin
        with the same bytes as before, possibly with more appended.  Raises
        :class:`ProtocolError` (414 or 431) when a limit is broken.
        """
        limits = self._limits
        if self._scan_pos == 0:
            # Fast path for a head that arrived whole and is obviously within every
            # limit: no line can be too long when the whole head is short enough.
            end = buf.find(b"\n\r\n", start)
            if end >= 0:
                head_len = end + 3 - start
                if (
                    head_len <= self._short_head
                    and buf.find(b"\n\n", start, end) < 0
                    and buf.count(b"\n", start, end) <= limits.max_headers
                ):
                    return head_len
        # Positions are kept relative to the head's start so the caller may move it.
        pos = start + self._scan_pos
        line_start = start + self._line_start
        lines = self._lines
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            seg = nl - line_start
            if lines and (seg == 0 or (seg == 1 and buf[line_start] == _CR)):
                head_len = nl + 1 - start
                if head_len > limits.max_header_bytes:
                    raise _section_too_large()
                return head_len
            self._check_line(seg, line_start - start, lines)
            lines += 1
            if lines > limits.max_headers + 1:
                # The (max_headers + 1)-th field line is complete.  A section-size
                # breach could only have happened earlier in the stream, so check it first.
                if nl + 1 - start > limits.max_header_bytes:
                    raise _section_too_large()
                raise ProtocolError(431, f"more than {limits.max_headers} header fields")
            line_start = pos = nl + 1
        # Head incomplete: the partial last line and the total so far must already fit.
        self._check_line(len(buf) - line_start, line_start - start, lines)
        if len(buf) - start > limits.max_header_bytes:
            raise _section_too_large()
        self._scan_pos = len(buf) - start
        self._line_start = line_start - start
        self._lines = lines
        return -1

    def _check_line(self, seg: int, line_start: int, lines: int) -> None:
        """Raise if a line of ``seg`` bytes (before its LF) is over its limit.

        ``line_start`` is relative to the head's start.
        """
        limits = self._limits
        if lines == 0:
            if seg > limits.max_request_line + 1:
                if line_start + limits.max_request_line + 2 > limits.max_header_bytes:
                    raise _section_too_large()
                raise ProtocolError(414, "request line too long")
        elif seg > limits.max_header_line + 1:
            if line_start + limits.max_header_line + 2 > limits.max_header_bytes:
                raise _section_too_large()
            raise ProtocolError(431, "header line too long")


def _section_too_large() -> ProtocolError:
    return ProtocolError(431, "header section too large")
