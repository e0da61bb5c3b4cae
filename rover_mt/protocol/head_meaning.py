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
    # 35 is "#": an int needle is a plain memchr, a bytes needle costs ~0.2 µs more.
    if target[:1] != b"/" or 35 in target:
        target = _origin_target(method, target)
    host: bytes | None = None
    content_length_field: bytes | None = None
    transfer_encoding: bytes | None = None
    connection: list[bytes] | None = None
    expect_continue = False
    framing_names = _FRAMING_NAMES  # a local: read once, not once per field
    for name, value in headers:
        # One set lookup skips the ordinary fields; the literal comparisons below are
        # cheaper than fetching module-level kind constants for every field.
        if name not in framing_names:
            continue
        # A repeat of Host, Content-Length or Transfer-Encoding is refused outright:
        # disagreeing copies are the raw material of request smuggling.
        if name == b"host":
            if host is not None:
                raise ProtocolError(400, "repeated Host header")
            host = value
        elif name == b"content-length":
            if content_length_field is not None:
                raise ProtocolError(400, "repeated Content-Length header")
            content_length_field = value
        elif name == b"transfer-encoding":
            if transfer_encoding is not None:
                raise ProtocolError(400, "repeated Transfer-Encoding header")
            transfer_encoding = value
        elif name == b"connection":
            if connection is None:
                connection = []
            connection.append(value)
        else:  # expect
            expect_continue = value.lower() == b"100-continue"
    is_11 = version == "1.1"
    if host is None:
        if is_11:
            raise ProtocolError(400, "missing Host header")
    elif _valid_host(host) is None:
        raise ProtocolError(400, "invalid Host header")

    chunked = False
    content_length: int | None = None
    if transfer_encoding is not None:
        if content_length_field is not None:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if not transfer_encoding:
            raise ProtocolError(400, "empty Transfer-Encoding")
        if transfer_encoding.lower() != b"chunked":
            raise ProtocolError(501, "unsupported Transfer-Encoding")
        if not is_11:
            raise ProtocolError(400, "chunked Transfer-Encoding in HTTP/1.0")
        chunked = True
    elif content_length_field is not None:
        if not content_length_field.isdigit():
            raise ProtocolError(400, "invalid Content-Length")
        if len(content_length_field) > _MAX_CL_DIGITS:
            raise ProtocolError(413, "request body too large")
        content_length = int(content_length_field)
        if content_length > limits.max_body_size:
            raise ProtocolError(413, "request body too large")

    if connection is None:
        keep_alive = is_11
    else:
        keep_alive = _keep_alive(connection, is_11)
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (~0.15 µs per request).
    return _new_tuple(
        RequestHead,
        (
            method,
            target,
            version,
            headers,
            keep_alive,
            is_11 and expect_continue,
            content_length,
            chunked,
        ),
    )


_FRAMING_NAMES = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect")
)
_valid_host = grammar.HOST_VALUE.fullmatch
_new_tuple = tuple.__new__


def _keep_alive(connection: list[bytes], is_11: bool) -> bool:
    """What the Connection field values ask for (RFC 9112 9.3), given the version default."""
    if len(connection) == 1 and 44 not in connection[0]:  # 44 is ","
        # One token, the usual case: no set of split tokens needed.
        token = connection[0].lower().strip()
        return token != b"close" and (is_11 or token == b"keep-alive")
    tokens = {t.strip() for v in connection for t in v.lower().split(b",")}
    return b"close" not in tokens and (is_11 or b"keep-alive" in tokens)


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
