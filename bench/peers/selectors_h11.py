"""Minimal single-thread HTTP/1.1 server on h11: the ceiling of the h11 parser.

    python bench/peers/selectors_h11.py --port 0
"""

from __future__ import annotations

from http import HTTPStatus

import h11
from lua_bridge import LuaHandlers
from selectors_common import parse_args, serve_forever

_JSON_HEADERS = [(b"content-type", b"application/json")]
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_REASONS = {code.value: code.phrase.encode() for code in HTTPStatus}


class H11Protocol:
    """One h11 connection answering the benchmark routes."""

    def __init__(self, handlers: LuaHandlers) -> None:
        self._handlers = handlers
        self._conn = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Parse `data`, answer every complete request; return (output, close?)."""
        conn = self._conn
        conn.receive_data(data)
        out: list[bytes] = []
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return b"".join(out) + _BAD_REQUEST, True
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return b"".join(out), False
            if isinstance(event, h11.Request):
                self._request = event
                self._body = []
            elif isinstance(event, h11.Data):
                self._body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                out.append(self._respond())
                if conn.our_state is h11.MUST_CLOSE:
                    return b"".join(out), True
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return b"".join(out), True

    def _respond(self) -> bytes:
        request = self._request
        assert request is not None
        path = request.target.split(b"?", 1)[0].decode("latin-1")
        status, payload = self._handlers.handle(request.method.decode(), path, b"".join(self._body))
        headers = _JSON_HEADERS + [(b"content-length", b"%d" % len(payload))]
        conn = self._conn
        return (conn.send(h11.Response(status_code=status, headers=headers, reason=_REASONS[status]))
                + conn.send(h11.Data(data=payload))
                + conn.send(h11.EndOfMessage()))


def main() -> None:
    args = parse_args(__doc__ or "")
    handlers = LuaHandlers()
    serve_forever(args.port, lambda: H11Protocol(handlers), "selectors-h11")


if __name__ == "__main__":
    main()
