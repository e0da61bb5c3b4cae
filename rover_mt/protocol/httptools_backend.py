"""The httptools (llhttp) backend: C-speed header tokenizing and chunk decoding.

llhttp accepts only a fixed list of methods, while any token must reach routing (which
answers 405/404).  The request line is therefore parsed by the shared syntax check and
llhttp is given a stand-in line with the same HTTP version; it still tokenizes every
header line and decodes the body.  Pipelined bytes never reach it: the shared framer
feeds it one request at a time, and only requests whose head is not plain or whose body
is chunked (plain heads are decoded by the framer, see ``plain_head``).
"""

from __future__ import annotations

import httptools

from .core import MESSAGE_END
from .events import BodyData, Event, Limits, ProtocolError, RequestHead
from .head_meaning import interpret_head
from .head_syntax import RequestLine, method_str, shared_verdict

# Stand-in request lines: the method and target do not affect llhttp's body framing.
_STAND_IN = {b"1.1": b"GET / HTTP/1.1\r\n", b"1.0": b"GET / HTTP/1.0\r\n"}


class HttptoolsDecoder:
    """Decodes one request at a time with an ``httptools.HttpRequestParser``."""

    __slots__ = (
        "_limits",
        "_parser",
        "_reusable",
        "_line",
        "_head_bytes",
        "_fields",
        "_in_head",
        "_head",
        "_out",
        "_failure",
        "ended",
    )

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._parser: httptools.HttpRequestParser | None = None
        self._reusable = False
        self._line: RequestLine | None = None
        self._head_bytes = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._head: RequestHead | None = None
        self._out: list[Event] = []
        self._failure: ProtocolError | None = None
        self.ended = False

    def start(self, head: bytes, line: RequestLine, out: list[Event]) -> RequestHead:
        """Feed llhttp the stand-in line plus the real header lines; emit the head."""
        # llhttp resets itself after a keep-alive message; after a closing one it would
        # refuse more input, so a new parser is made then (rare: the peer is leaving).
        parser = self._parser
        if parser is None or not self._reusable:
            parser = self._parser = httptools.HttpRequestParser(self)
        self._line = line
        self._head_bytes = head
        self._fields = []
        self._in_head = True
        self._head = None
        self.ended = False
        self._feed(parser, _STAND_IN[line.version] + head[line.end :], out)
        request = self._head
        if request is None:
            raise ProtocolError(400, "httptools did not complete the head")
        self._reusable = request.keep_alive
        return request

    def body(self, data: bytes, out: list[Event]) -> None:
        """Feed validated body bytes to llhttp and emit what it decodes."""
        parser = self._parser
        assert parser is not None
        self._feed(parser, data, out)

    def _feed(self, parser: httptools.HttpRequestParser, data: bytes, out: list[Event]) -> None:
        self._out = out
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Not an HttpParserError subclass, so it needs its own clause.
            self._upgrade_refused(out)
        except httptools.HttpParserError as exc:
            failure = self._failure
            if failure is not None:  # raised by one of our callbacks
                self._failure = None
                raise failure from None
            self._parser = None
            line = self._line
            if self._in_head and line is not None:
                # llhttp refused the head: answer with the shared rules' verdict.
                shared_verdict(self._head_bytes, line, self._limits)
            raise ProtocolError(400, f"httptools: {exc}") from exc

    def _upgrade_refused(self, out: list[Event]) -> None:
        """Carry on with an Upgrade request as an ordinary one, as h11 does.

        This server never switches protocols, but llhttp, on "Connection: upgrade"
        plus an Upgrade field, reports the message complete right after the head and
        then stops for good, body or not.  So its MessageEnd is taken back and a fresh
        parser, fed a stand-in head that carries only the framing, decodes the body.
        """
        self._parser = None
        request = self._head
        if request is None or not (request.chunked or request.content_length):
            return  # no body: the head and MessageEnd llhttp reported are the message
        if out and out[-1] is MESSAGE_END:
            out.pop()
        self.ended = False
        framing = (
            b"Transfer-Encoding: chunked"
            if request.chunked
            else b"Content-Length: %d" % request.content_length
        )
        parser = self._parser = httptools.HttpRequestParser(self)
        # _in_head is False, so the stand-in's fields and head end are ignored below.
        parser.feed_data(b"GET / HTTP/1.1\r\n" + framing + b"\r\n\r\n")

    # llhttp callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # llhttp reports trailer fields here too; they are dropped
            # llhttp keeps trailing whitespace that RFC 9110 says is not part of the value.
            self._fields.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        if not self._in_head:
            return  # the stand-in head of _upgrade_refused: nothing to report
        self._in_head = False
        line = self._line
        assert line is not None
        try:
            request = interpret_head(
                method_str(line.method),
                line.target,
                "1.1" if line.version == b"1.1" else "1.0",
                tuple(self._fields),
                self._limits,
            )
        except ProtocolError as exc:
            self._failure = exc
            raise
        self._head = request
        self._out.append(request)

    def on_body(self, body: bytes) -> None:
        self._out.append(BodyData(body))

    def on_message_complete(self) -> None:
        self._out.append(MESSAGE_END)
        self.ended = True

