"""Syntax check of a complete request head, shared by every backend.

Backends differ in what they tolerate (h11 folds obs-fold lines and accepts bare LF,
llhttp only knows a fixed list of methods); running every head through this one check
first is what makes them answer identically.  The fast path is two C-level regex
matches; the slow path, taken only for bad input, finds the first bad line so that the
400 carries a useful reason.
"""

from __future__ import annotations

from typing import NamedTuple

from . import grammar
from .events import Limits, ProtocolError

_SUPPORTED_VERSIONS = (b"1.1", b"1.0")


class RequestLine(NamedTuple):
    """The three parts of a valid request line and where the header block starts."""

    method: bytes
    target: bytes
    version: bytes  # b"1.1" or b"1.0"
    end: int  # offset of the first header line in the head


def check_head(head: bytes) -> RequestLine:
    """Validate the syntax of a complete head (request line to empty line inclusive).

    Raises :class:`ProtocolError` 400 for malformed lines and 505 for an HTTP version
    other than 1.0 or 1.1.  Semantics (Host, framing headers) are checked elsewhere.
    """
    m = grammar.HEAD.fullmatch(head)
    if m is not None:
        version = m.group(3)
        if version not in _SUPPORTED_VERSIONS:
            raise ProtocolError(505, "HTTP version not supported")
        if b"\t\r\n" in head:
            # Legal OWS, but llhttp then misreads "Transfer-Encoding: chunked<TAB>";
            # refusing it everywhere keeps the backends in agreement.
            raise ProtocolError(400, "tab at the end of a header line")
        return RequestLine(m.group(1), m.group(2), version, m.end(3) + 2)
    # Slow path: find which part is wrong, checking the request line first.
    m = grammar.REQUEST_LINE.match(head)
    if m is None:
        raise ProtocolError(400, _request_line_problem(head))
    if m.group(3) not in _SUPPORTED_VERSIONS:
        raise ProtocolError(505, "HTTP version not supported")
    raise ProtocolError(400, _field_problem(head, m.end()))


def split_fields(head: bytes, start: int) -> list[tuple[bytes, bytes]]:
    """Field lines of an already checked head as (lower-cased name, value) pairs."""
    return [(name.lower(), value) for name, value in grammar.FIELD_LINE.findall(head, start)]


def _request_line_problem(head: bytes) -> str:
    line, _, _ = head.partition(b"\n")
    if not line.endswith(b"\r"):
        return "request line not terminated by CRLF"
    line = line[:-1]
    if b"\r" in line:
        return "bare CR in request line"
    if b"\x00" in line:
        return "NUL in request line"
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        return "malformed request line"
    if grammar.REQUEST_LINE.match(parts[0] + b" / HTTP/1.1\r\n") is None:
        return "invalid method"
    if not parts[2].startswith(b"HTTP/"):
        return "malformed HTTP version"
    if grammar.REQUEST_LINE.match(b"GET / " + parts[2] + b"\r\n") is None:
        return "malformed HTTP version"
    return "invalid request target"


def _field_problem(head: bytes, start: int) -> str:
    """Describe the first field line that does not match the grammar."""
    pos = start
    while pos < len(head):
        nl = head.find(b"\n", pos)
        line = head[pos : nl + 1]
        if line == b"\r\n":
            break
        if not line.endswith(b"\r\n"):
            return "header line not terminated by CRLF"
        if grammar.FIELD_LINE.fullmatch(line) is None:
            return _field_line_problem(line[:-2])
        pos = nl + 1
    return "malformed header section"


def _field_line_problem(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "obsolete line folding"
    if b"\r" in line:
        return "bare CR in header"
    if b"\x00" in line:
        return "NUL in header"
    name, colon, _ = line.partition(b":")
    if not colon:
        return "header line without colon"
    if name[-1:] in (b" ", b"\t"):
        return "whitespace before colon in header"
    if grammar.FIELD_LINE.fullmatch(name + b": x\r\n") is None:
        return "invalid header name"
    return "invalid character in header value"


def method_str(method: bytes) -> str:
    """The method as ``str``; the common ones are interned so routing shares them."""
    return _COMMON_METHODS.get(method) or method.decode("ascii")


_COMMON_METHODS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
}


def shared_verdict(head: bytes, line: RequestLine, limits: Limits) -> None:
    """Raise the ProtocolError the shared rules give for a syntax-checked head, if any.

    Backends call this when their library refuses a head, so that the status comes
    from the shared rules (e.g. 501 for an unknown coding, 413 for a huge
    Content-Length) rather than from whichever check the library happens to run first.
    """
    from .head_meaning import interpret_head  # local: head_meaning is the heavier module

    version = "1.1" if line.version == b"1.1" else "1.0"
    fields = tuple(split_fields(head, line.end))
    interpret_head(method_str(line.method), line.target, version, fields, limits)
