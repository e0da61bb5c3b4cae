"""Turn a handler's result into the bytes of an HTTP/1.1 response.

This runs on the worker thread, so the I/O thread only has to write bytes.
"""

from __future__ import annotations

import time
from http import HTTPStatus

_STATUS_LINES: dict[int, bytes] = {}
for _s in HTTPStatus:
    _STATUS_LINES[_s.value] = b"HTTP/1.1 %d %s\r\n" % (_s.value, _s.phrase.encode())


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d Status %d\r\n" % (status, status)
    return line


class DateHeader:
    """The Date header value, formatted at most once per second (RFC 9110 IMF-fixdate)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            # A racing thread may format the same second twice; both results are equal.
            self._value = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
            self._second = now
        return self._value


SHED_BODY = b'{"error":"Server overloaded"}'
#: The body of a 500 for an error of rover-mt's own, never the handler's.
INTERNAL_ERROR_BODY = b'{"error":"Internal Server Error"}'


def shed_response(*, request_id: bytes, date: bytes, keep_alive: bool,
                  head_only: bool) -> tuple[int, bytes, int]:
    """The answer to a shed request (SPEC 12): 503 with ``Retry-After: 1``, as
    (status, bytes, body length)."""
    data = compose(503, SHED_BODY, b"application/json", b"Retry-After: 1", request_id=request_id,
                   date=date, keep_alive=keep_alive, head_only=head_only)
    return (503, data, len(SHED_BODY))


# Status codes whose responses never carry a body (RFC 9110 section 6.4.1).
_NO_BODY = frozenset({204, 304})


def compose(
    status: int,
    body: bytes,
    content_type: bytes | None,
    extra: bytes | None,
    *,
    request_id: bytes,
    date: bytes,
    keep_alive: bool,
    head_only: bool,
) -> bytes:
    """Encode a full response. `extra` is a "Name: value\\r\\n..." block without the
    last CRLF, already checked for CR/LF/NUL by the Lua side."""
    parts = [status_line(status), b"Date: ", date, b"\r\nX-Request-Id: ", request_id, b"\r\n"]
    if content_type is not None:
        parts += [b"Content-Type: ", content_type, b"\r\n"]
    if extra:
        parts += [extra, b"\r\n"]
    if status in _NO_BODY or status < 200:
        body = b""
    else:
        parts += [b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)
