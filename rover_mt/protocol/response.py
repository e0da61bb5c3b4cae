"""Serialising responses to HTTP/1.1 bytes.

Everything that can be computed once (status lines, header prefixes) is computed at
import, so encoding a response is one ``bytes.join``.  Header names and values are
taken as given: refusing CR/LF/NUL in them is the job of the code that builds them.
"""

from __future__ import annotations

import time
from http import HTTPStatus

import orjson

CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

# Reason phrases from the standard library's table, plus a few it lacks.
_EXTRA_REASONS = {418: "I'm a Teapot", 425: "Too Early", 509: "Bandwidth Limit Exceeded"}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _EXTRA_REASONS.get(status, "Unknown")


# "HTTP/1.1 200 OK\r\nDate: " for every status a handler may use (SPEC: 100..599).
_STATUS_PREFIX = {
    status: b"HTTP/1.1 %d %s\r\nDate: " % (status, _reason(status).encode("latin-1"))
    for status in range(100, 600)
}

# Statuses whose responses never carry a body (RFC 9110 6.4.1).
_NO_BODY = frozenset([*range(100, 200), 204, 304])


def reason_phrase(status: int) -> str:
    """The reason phrase sent for ``status`` ("Unknown" for unassigned codes)."""
    return _reason(status)


_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"", b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")


def http_date(ts: float) -> bytes:
    """Format a POSIX timestamp as an IMF-fixdate, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``.

    Callers on a hot path should cache the result per whole second.
    """
    t = time.gmtime(ts)
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec
    )


def encode_response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    keep_alive: bool,
    head_only: bool,
    date: bytes,
) -> bytes:
    """Serialise a complete response.

    Writes the status line, ``Date``, ``Content-Length`` (the full body length, also
    for HEAD), the given ``headers`` in order, ``Connection: close`` when not
    ``keep_alive``, and the body unless ``head_only`` or the status forbids one (1xx,
    204, 304; these also get no ``Content-Length``).  ``headers`` must not contain
    Date, Content-Length or Connection.
    """
    parts = [_STATUS_PREFIX[status], date]
    if status in _NO_BODY:
        parts.append(b"\r\n")
        body = b""
    else:
        parts.append(b"\r\nContent-Length: %d\r\n" % len(body))
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    if body and not head_only:
        parts.append(body)
    return b"".join(parts)


_JSON_HEADERS = [(b"Content-Type", b"application/json")]


def encode_error(status: int, message: str, *, date: bytes, request_id: bytes = b"",
                 head_only: bool = False) -> bytes:
    """A closing error response with JSON body ``{"error": message}`` (protocol errors).

    `request_id`, when given, is sent as ``X-Request-Id`` like on every other response.
    `head_only` (the refused request said HEAD) leaves the body out, as for any
    answer to HEAD; Content-Length still gives its size.
    """
    body = orjson.dumps({"error": message})
    headers = _JSON_HEADERS + [(b"X-Request-Id", request_id)] if request_id else _JSON_HEADERS
    return encode_response(status, headers, body, keep_alive=False, head_only=head_only, date=date)
