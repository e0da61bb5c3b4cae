"""Sans-IO HTTP/1.1 request parsing and response encoding.

Bytes go in, :mod:`events <rover_mt.protocol.events>` come out; nothing here touches a
socket, a thread or Lua.  Two parser backends exist ("h11", pure Python, and
"httptools", llhttp in C); both sit behind the same framing and validation code
(:mod:`~rover_mt.protocol.core`), so they produce the same events and the same
:class:`ProtocolError` statuses for the same bytes, however those bytes are split.
Plain heads, nearly all real traffic, do not reach a backend at all
(:mod:`~rover_mt.protocol.plain_head`): the backend only matters for unusual heads and
chunked bodies.

Typical use by the network layer::

    parser = make_parser("auto", Limits())
    for event in parser.feed(data):      # RequestHead, BodyData*, MessageEnd
        ...
    # after the response went out:
    events = parser.start_next()         # a pipelined request may already be there
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from .core import FramedParser
from .events import BodyData, Event, Limits, MessageEnd, ProtocolError, RequestHead
from .h11_backend import H11Decoder

__all__ = [
    "BodyData",
    "Event",
    "Limits",
    "MessageEnd",
    "Parser",
    "ProtocolError",
    "RequestHead",
    "available_backends",
    "make_parser",
    "resolve_backend",
]


class Parser(Protocol):
    """An incremental HTTP/1.1 request parser for one connection."""

    def feed(self, data: bytes) -> list[Event]:
        """Parse as far as possible and return events in order.

        Events are ``RequestHead``, ``BodyData``*, ``MessageEnd``.  After a
        ``MessageEnd`` further bytes (pipelined requests) are only buffered until
        :meth:`start_next`.  Raises :class:`ProtocolError` on bad input, after which the
        parser is dead: every later call raises the same error.
        """
        ...

    def start_next(self) -> list[Event]:
        """Begin the next request (the previous response was sent) and return the
        events for bytes already buffered.  Calling it before ``MessageEnd`` is a
        programming error (RuntimeError)."""
        ...

    def feed_eof(self) -> None:
        """The peer closed its side; a partial request is simply abandoned."""
        ...

    @property
    def in_progress(self) -> bool:
        """True while bytes of a not-yet-complete request head or body are buffered."""
        ...

    @property
    def holds_input(self) -> bool:
        """True when bytes past the current request (a pipelined request) are held."""
        ...

    @property
    def head_method(self) -> bool:
        """True when the request being parsed (or the one refused last) starts with
        the HEAD method token: an error answer to it must not carry a body."""
        ...


def _httptools_importable() -> bool:
    return importlib.util.find_spec("httptools") is not None


def available_backends() -> list[str]:
    """Backends that can be used in this interpreter, preferred first."""
    return ["httptools", "h11"] if _httptools_importable() else ["h11"]


def resolve_backend(name: str) -> str:
    """Map a backend setting to a concrete backend name.

    ``"auto"`` picks httptools when it is importable, else h11.  Raises ValueError for
    an unknown name or for "httptools" when it is not installed.
    """
    if name == "auto":
        return available_backends()[0]
    if name not in ("h11", "httptools"):
        raise ValueError(f"unknown HTTP parser backend {name!r}; expected auto, h11 or httptools")
    if name not in available_backends():
        raise ValueError("the httptools backend was requested but httptools is not installed")
    return name


def make_parser(backend: str, limits: Limits) -> Parser:
    """Create a parser for one connection using ``backend`` ("h11", "httptools", "auto")."""
    if resolve_backend(backend) == "httptools":
        from .httptools_backend import HttptoolsDecoder

        return FramedParser(HttptoolsDecoder(limits), limits)
    return FramedParser(H11Decoder(limits), limits)
