"""The event loop shared by the minimal single-thread peers.

One thread, one `selectors` loop, non-blocking sockets and nothing else: the
least machinery a Python HTTP server can have, so these peers show the
ceiling of each parser (h11, httptools) with the same Lua handlers behind it.
A protocol object turns received bytes into bytes to send; this module only
moves bytes.
"""

from __future__ import annotations

import argparse
import selectors
import socket
from collections.abc import Callable
from typing import Protocol


class ByteProtocol(Protocol):
    """What a connection's protocol does: bytes in, (bytes out, close?) back."""

    def feed(self, data: bytes) -> tuple[bytes, bool]: ...


class _Connection:
    __slots__ = ("sock", "protocol", "pending", "closing")

    def __init__(self, sock: socket.socket, protocol: ByteProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.pending = b""      # bytes the kernel did not take yet
        self.closing = False    # close once `pending` is written


def parse_args(description: str) -> argparse.Namespace:
    """The command line every minimal peer takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks one)")
    return parser.parse_args()


def serve_forever(port: int, make_protocol: Callable[[], ByteProtocol], name: str) -> None:
    """Listen on 127.0.0.1:port and serve until interrupted."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    print(f"{name} listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    try:
        while True:
            for key, mask in selector.select():
                if key.data is None:
                    _accept_all(listener, selector, make_protocol)
                    continue
                conn = key.data
                if mask & selectors.EVENT_READ:
                    _on_readable(conn, selector)
                elif mask & selectors.EVENT_WRITE:
                    _flush(conn, selector)
    except KeyboardInterrupt:
        pass
    finally:
        selector.close()
        listener.close()


def _accept_all(listener: socket.socket, selector: selectors.BaseSelector,
                make_protocol: Callable[[], ByteProtocol]) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ, _Connection(sock, make_protocol()))


def _on_readable(conn: _Connection, selector: selectors.BaseSelector) -> None:
    try:
        data = conn.sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        data = b""
    if not data:
        _close(conn, selector)
        return
    out, close = conn.protocol.feed(data)
    conn.closing = conn.closing or close
    conn.pending += out
    _flush(conn, selector)


def _flush(conn: _Connection, selector: selectors.BaseSelector) -> None:
    if conn.pending:
        try:
            sent = conn.sock.send(conn.pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            _close(conn, selector)
            return
        conn.pending = conn.pending[sent:]
    if conn.pending:
        # Wait for room in the socket buffer; stop reading meanwhile so a
        # client that never reads cannot make us buffer without limit.
        selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
    elif conn.closing:
        _close(conn, selector)
    else:
        selector.modify(conn.sock, selectors.EVENT_READ, conn)


def _close(conn: _Connection, selector: selectors.BaseSelector) -> None:
    selector.unregister(conn.sock)
    conn.sock.close()
