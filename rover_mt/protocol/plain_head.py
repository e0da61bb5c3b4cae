"""The fast path for the common request head: one C-level match instead of per-line checks.

Almost every real head is "plain" (see ``grammar.PLAIN_HEAD``).  A plain head that fits
the limits cannot fail the syntax check or the size scan, and neither library refuses
one that the shared rules (``interpret_head``) accept, so its RequestHead can be built
here without running the head through h11 or llhttp at all.  Anything else returns
``None`` and takes the detailed path, which therefore still decides every error status
and reason for unusual input.  tests/unit/test_protocol_fastpath.py checks that both
paths give the same events and errors.
"""

from __future__ import annotations

from . import grammar
from .events import Limits, RequestHead
from .head_meaning import interpret_head
from .head_syntax import method_str

_plain_match = grammar.PLAIN_HEAD.match
_plain_fullmatch = grammar.PLAIN_HEAD.fullmatch
_field_lines = grammar.PLAIN_FIELD_LINE.findall
_new_tuple = tuple.__new__  # skips RequestHead's Python-level __new__


class PlainHeadReader:
    """Recognises and decodes plain heads under one connection's limits.

    It remembers the last head it decoded.  Keep-alive clients often repeat a head byte
    for byte (pollers, health checks, load generators), and nearly always repeat the
    field block while the request line changes.  For a plain head the result depends
    only on the bytes, the limits and (for the fields' meaning) the HTTP version, and
    RequestHead is immutable, so a repeated head is answered with the same object after
    one comparison, and a repeated field block skips splitting and interpreting the
    fields again.
    """

    __slots__ = (
        "_limits",
        "_max_size",
        "_max_headers",
        "_last_head",
        "_last_found",
        "_last_block",
        "_last_request",
    )

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        # The same bound as HeadScanner's: no line or section limit can be broken by a
        # head this short, so within it only the field count remains to be checked.
        self._max_size = min(
            limits.max_request_line + 1, limits.max_header_line + 1, limits.max_header_bytes
        )
        self._max_headers = limits.max_headers
        self._last_head = b""  # the whole last head, ending with its empty line
        self._last_found: tuple[RequestHead, int] | None = None
        self._last_block = b""  # its field block
        self._last_request: RequestHead | None = None

    def read(
        self, buf: bytes | bytearray, start: int, stop: int | None = None
    ) -> tuple[RequestHead, int] | None:
        """Decode the plain head at ``buf[start:]``; return it and its size, or ``None``.

        With ``stop`` the head must be exactly ``buf[start:stop]`` (its end is already
        known); without it, the head is whatever plain head ``buf[start:]`` begins with.
        ``None`` means "not plain, not complete, near a limit, or chunked": the caller
        then uses the detailed path.  Raises :class:`ProtocolError` exactly where
        ``interpret_head`` does (missing Host, bad Content-Length, ...), which is what
        the detailed path would raise for the same head.
        """
        found = self._last_found
        # The cached head ends with its empty line, so a buffer that starts with it
        # holds exactly that head (and ``stop``, if given, is where it ends).
        if found is not None and buf.startswith(self._last_head, start):
            return found
        m = _plain_match(buf, start) if stop is None else _plain_fullmatch(buf, start, stop)
        if m is None:
            return None
        size = m.end() - start
        if size > self._max_size:
            return None
        method, target, minor = m.group(1, 2, 3)
        version = "1.1" if minor == b"1" else "1.0"
        block_start, block_end = m.span(4)
        block = buf[block_start:block_end]
        last = self._last_request
        if block == self._last_block and last is not None and last.http_version == version:
            # Same fields, same version: only the request line differs, and a plain
            # (origin-form, fragment-free) target is used as it is.
            request = _new_tuple(RequestHead, (method_str(method), target, *last[2:]))
        else:
            # re returns bytes even when buf is a bytearray, so nothing here aliases buf.
            fields = [
                (name.lower(), value) for name, value in _field_lines(buf, block_start, block_end)
            ]
            if len(fields) > self._max_headers:
                return None
            request = interpret_head(
                method_str(method), target, version, tuple(fields), self._limits
            )
            if request.chunked:
                return None  # de-chunking is the backend's job: let it see the whole head
            self._last_block = block if type(block) is bytes else bytes(block)
            self._last_request = request
        head = buf[start : start + size]  # the same object when buf is exactly the head
        self._last_head = head if type(head) is bytes else bytes(head)
        found = self._last_found = (request, size)
        return found
