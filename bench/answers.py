"""Reading one HTTP/1.1 answer off a plain socket, for the bench's own clients
(footprint.py holds keep-alive connections open with it; bench_io_path.py warms
a handler with it). wrk does the load; these only need whole answers."""

from __future__ import annotations

import socket


def read_answer(sock: socket.socket) -> bytes:
    """Read one whole answer (its head, then a Content-Length body) and return it.

    Raises ConnectionError when the server closes the connection before the end."""
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) >= length:
                return data
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection: {data[:200]!r}")
        data += chunk
