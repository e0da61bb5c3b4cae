"""The sans-IO boundary between the network layer and an HTTP/1.1 parser backend.

A backend is fed raw bytes and hands back events; it never touches a socket,
a thread or Lua. Every backend (h11, httptools) produces exactly these events and
raises exactly :class:`ProtocolError`, so ``net/`` never knows which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits a parser enforces while it reads (SPEC section 13)."""

    max_request_line: int = 8192
    max_header_line: int = 8192
    max_headers: int = 100
    max_header_bytes: int = 32768
    max_body_size: int = 1048576


class RequestHead(NamedTuple):
    """A request line plus headers, validated.

    ``headers`` keeps the order received; names are lower-cased bytes, values are
    bytes with surrounding whitespace stripped.

    The events are NamedTuples rather than frozen dataclasses because one is built per
    request on the I/O thread: a frozen dataclass sets every field through
    ``object.__setattr__`` (about 1.3 µs for this one), a NamedTuple is one tuple
    allocation.  They stay immutable, with the same names, fields and attribute access;
    equality is a tuple's (an event also equals a plain tuple of the same values), and
    a repeated head may be delivered as the very same object (see ``plain_head``).
    """

    method: str
    target: bytes
    http_version: str  # "1.0" or "1.1"
    headers: tuple[tuple[bytes, bytes], ...]
    keep_alive: bool  # what the client asked for (1.1 default yes, 1.0 default no)
    expect_continue: bool
    content_length: int | None  # None when chunked or no body framing
    chunked: bool


class BodyData(NamedTuple):
    """A piece of the request body (de-chunked)."""

    data: bytes


class MessageEnd(NamedTuple):
    """The request is complete; trailers, if any, were read and discarded."""


Event = RequestHead | BodyData | MessageEnd


class ProtocolError(Exception):
    """Input the server must refuse. ``status`` is the answer to send before closing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
