"""Minimal single-thread HTTP/1.1 server on httptools: the ceiling of llhttp.

    python bench/peers/selectors_httptools.py --port 0
"""

from __future__ import annotations

from http import HTTPStatus

import httptools
from lua_bridge import LuaHandlers
from selectors_common import parse_args, serve_forever

_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# Every status line, built once at import.
_STATUS_LINES: dict[int, bytes] = {
    code.value: b"HTTP/1.1 %d %s\r\n" % (code.value, code.phrase.encode()) for code in HTTPStatus
}


class HttptoolsProtocol:
    """One connection: httptools calls back into this object while it parses."""

    def __init__(self, handlers: LuaHandlers) -> None:
        self._handlers = handlers
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._out: list[bytes] = []
        self._close = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Parse `data`, answer every complete request; return (output, close?)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._out.append(_BAD_REQUEST)
            self._close = True
        out = b"".join(self._out)
        self._out.clear()
        return out, self._close

    # httptools callbacks (names fixed by httptools).
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        method = self._parser.get_method().decode()
        status, payload = self._handlers.handle(method, path, b"".join(self._body))
        keep_alive = self._parser.should_keep_alive()
        self._out.append(
            _STATUS_LINES[status]
            + b"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (len(payload), b"" if keep_alive else b"Connection: close\r\n")
            + payload
        )
        if not keep_alive:
            self._close = True


def main() -> None:
    args = parse_args(__doc__ or "")
    handlers = LuaHandlers()
    serve_forever(args.port, lambda: HttptoolsProtocol(handlers), "selectors-httptools")


if __name__ == "__main__":
    main()
