"""Driving a parser the way the network layer does, and reading raw responses.

``parse_stream`` feeds pieces, calls ``start_next()`` after every ``MessageEnd`` (as
if the response went out at once) and reduces the events to complete messages, so
different splits of one stream can be compared. ``split_responses`` cuts a byte
stream of HTTP/1.1 responses into (status, headers, body), asserting they are
well formed.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

from rover_mt.protocol import (
    BodyData,
    Event,
    Limits,
    MessageEnd,
    ProtocolError,
    RequestHead,
    make_parser,
)

# Every status a ProtocolError may carry (SPEC 13 and the protocol package).
PROTOCOL_STATUSES = frozenset({400, 413, 414, 431, 501, 505})


@dataclass(frozen=True)
class ParseResult:
    """Complete messages (head, whole body), and the ProtocolError status if one was raised."""

    messages: tuple[tuple[RequestHead, bytes], ...]
    error: int | None
    in_progress: bool


class _Collector:
    """Checks event order and assembles complete messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[RequestHead, bytes]] = []
        self.head: RequestHead | None = None
        self.body = bytearray()

    def take(self, events: list[Event]) -> None:
        for position, event in enumerate(events):
            if isinstance(event, RequestHead):
                assert self.head is None, "RequestHead inside a message"
                self.head = event
            elif isinstance(event, BodyData):
                assert self.head is not None, "BodyData outside a message"
                self.body += event.data
            else:
                assert isinstance(event, MessageEnd), f"unknown event {event!r}"
                assert self.head is not None, "MessageEnd outside a message"
                # Bytes after a MessageEnd wait for start_next(): nothing may follow it.
                assert position == len(events) - 1, "events after MessageEnd"
                self.messages.append((self.head, bytes(self.body)))
                self.head, self.body = None, bytearray()


def parse_stream(backend: str, pieces: list[bytes], limits: Limits | None = None) -> ParseResult:
    """Feed ``pieces`` to a fresh parser; any exception but ProtocolError propagates."""
    parser = make_parser(backend, limits or Limits())
    collector = _Collector()
    error: ProtocolError | None = None
    try:
        for piece in pieces:
            events = parser.feed(piece)
            collector.take(events)
            while events and isinstance(events[-1], MessageEnd):
                events = parser.start_next()
                collector.take(events)
    except ProtocolError as exc:
        error = exc
    if error is not None:
        assert error.status in PROTOCOL_STATUSES, error.status
        # A dead parser keeps refusing, with the same answer.
        for again in (lambda: parser.feed(b"GET / HTTP/1.1\r\n"), parser.start_next):
            try:
                again()
            except ProtocolError as repeat:
                assert repeat.status == error.status
            else:
                raise AssertionError("parser accepted input after a ProtocolError")
        return ParseResult(tuple(collector.messages), error.status, False)
    in_progress = parser.in_progress
    parser.feed_eof()
    return ParseResult(tuple(collector.messages), None, in_progress)


_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9]{2}) [^\r\n]*")
_NO_BODY = (204, 304)

Response = tuple[int, dict[str, str], bytes]


def split_responses(data: bytes) -> tuple[list[Response], bytes]:
    """Complete, well-formed responses at the start of ``data``, and the incomplete rest.

    Raises AssertionError when what is there cannot be a response.
    """
    responses: list[Response] = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            prefix = b"HTTP/1.1 "
            assert prefix.startswith(data) if len(data) < len(prefix) \
                else data.startswith(prefix), f"not a response: {data[:80]!r}"
            break
        lines = head.split(b"\r\n")
        found = _STATUS_LINE.fullmatch(lines[0])
        assert found, f"bad status line {lines[0]!r}"
        status = int(found.group(1))
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon and name and name == name.strip(), f"bad header line {line!r}"
            headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
        if status < 200 or status in _NO_BODY:
            length = 0
        else:
            assert "content-length" in headers, f"no Content-Length in {head!r}"
            length = int(headers["content-length"])
        if len(rest) < length:
            break
        responses.append((status, headers, rest[:length]))
        data = rest[length:]
    return responses, data


def exchange(port: int, pieces: list[bytes], *, expect: int | None = None,
             timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``pieces`` on one connection; return (bytes read, whether the server closed).

    With ``expect`` stop once that many complete responses arrived (the connection
    stays open); otherwise half-close our side and read until the server closes or
    ``timeout`` passes. A reset counts as a close.
    """
    received = bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                if piece:
                    sock.sendall(piece)
            if expect is None:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the server closed early (after an error response): read what came
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return bytes(received), False
            except OSError:
                return bytes(received), True
            if not chunk:
                return bytes(received), True
            received += chunk
            if expect is not None and len(split_responses(bytes(received))[0]) >= expect:
                return bytes(received), False
    return bytes(received), False
