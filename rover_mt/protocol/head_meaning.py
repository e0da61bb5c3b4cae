"""What a syntactically valid head means: target form, Host, body framing, keep-alive.

Shared by every backend, so the smuggling-relevant decisions (Content-Length versus
Transfer-Encoding, duplicates, HTTP/1.0 chunked) are made once.  Order of checks is
fixed so that a head with several problems always gets the same status.
"""

from __future__ import annotations

from . import grammar
from .events import Limits, ProtocolError, RequestHead

# Largest Content-Length we bother converting; anything longer is over every limit.
# (Also keeps int() away from Python's 4300-digit conversion guard.)
_MAX_CL_DIGITS = 18


def interpret_head(
    method: str,
    target: bytes,
    version: str,
    headers: tuple[tuple[bytes, bytes], ...],
    limits: Limits,
) -> RequestHead:
    """Build the :class:`RequestHead` for a head whose syntax was already checked.

    ``headers`` are (lower-cased name, value) pairs in arrival order.  Raises
    :class:`ProtocolError`: 400 for a bad target, Host or framing; 501 for a
    Transfer-Encoding other than ``chunked``; 413 when Content-Length exceeds
    ``limits.max_body_size``.
    """
    target = _origin_target(method, target)
    host_count = 0
    host = b""
    content_lengths: list[bytes] = []
    transfer_encodings: list[bytes] = []
    connection: list[bytes] = []
    expect = b""
    for name, value in headers:
        if name not in _FRAMING_NAMES:
            continue
        if name == b"host":
            host_count += 1
            host = value
        elif name == b"content-length":
            content_lengths.append(value)
        elif name == b"transfer-encoding":
            transfer_encodings.append(value)
        elif name == b"connection":
            connection.append(value.lower())
        else:
            expect = value
    is_11 = version == "1.1"
    if host_count > 1:
        raise ProtocolError(400, "repeated Host header")
    if host_count == 0:
        if is_11:
            raise ProtocolError(400, "missing Host header")
    elif grammar.HOST_VALUE.fullmatch(host) is None:
        raise ProtocolError(400, "invalid Host header")

    chunked = False
    content_length: int | None = None
    if transfer_encodings:
        if content_lengths:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if len(transfer_encodings) > 1:
            raise ProtocolError(400, "repeated Transfer-Encoding header")
        if transfer_encodings[0].lower() != b"chunked":
            raise ProtocolError(501, "unsupported Transfer-Encoding")
        if not is_11:
            raise ProtocolError(400, "chunked Transfer-Encoding in HTTP/1.0")
        chunked = True
    elif content_lengths:
        if len(content_lengths) > 1:
            raise ProtocolError(400, "repeated Content-Length header")
        digits = content_lengths[0]
        if not digits.isdigit():
            raise ProtocolError(400, "invalid Content-Length")
        if len(digits) > _MAX_CL_DIGITS:
            raise ProtocolError(413, "request body too large")
        content_length = int(digits)
        if content_length > limits.max_body_size:
            raise ProtocolError(413, "request body too large")

    if connection:
        tokens = {t.strip() for v in connection for t in v.split(b",")}
        keep_alive = b"close" not in tokens and (is_11 or b"keep-alive" in tokens)
    else:
        keep_alive = is_11
    return RequestHead(
        method,
        target,
        version,
        headers,
        keep_alive,
        is_11 and expect.lower() == b"100-continue",
        content_length,
        chunked,
    )


_FRAMING_NAMES = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect")
)


def _origin_target(method: str, target: bytes) -> bytes:
    """Return the origin-form path?query for ``target`` or raise 400.

    Accepted: origin-form ("/..."), absolute-form ("http://host/path", reduced to its
    path), and "*" for OPTIONS only.  Fragments are never part of a request target.
    """
    if target[:1] == b"/":
        if b"#" in target:
            raise ProtocolError(400, "fragment in request target")
        return target
    if target == b"*":
        if method == "OPTIONS":
            return target
        raise ProtocolError(400, "asterisk-form target is only allowed for OPTIONS")
    m = grammar.ABSOLUTE_TARGET.fullmatch(target)
    if m is None:
        raise ProtocolError(400, "invalid request target")
    rest = m.group(1)
    if b"#" in rest or (rest and rest[:1] not in (b"/", b"?")):
        raise ProtocolError(400, "invalid request target")
    return rest if rest[:1] == b"/" else b"/" + rest
