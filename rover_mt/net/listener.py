"""① The listening socket, the accept loop and the connection timeout sweep.

Runs on the I/O thread. Accepting pauses while `max_connections` are open and
resumes when one closes; a sweep closes connections that overstay their state.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Any

from ..errors import AddressInUseError, StartupError
from ..protocol import Limits, resolve_backend
from .connection import HttpConnection
from .transport import SocketTransport

SWEEP_INTERVAL = 0.25
SWEEP_TICK = 0.025  # one slice of the sweep every 25 ms ...
SWEEP_CHUNK = 256  # ... of this many connections (2,560 per SWEEP_INTERVAL)
ACCEPT_BATCH = 64


def bind_socket(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A non-blocking listening socket; one clear error if the address is taken.

    With ``listen=False`` the socket is only bound (a supervisor reserving a port
    for SO_REUSEPORT children, without receiving their connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
            sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(f"address {host}:{port} is already in use") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Listener:
    """Accepts connections for an engine and tracks them until they close."""

    def __init__(self, engine: Any, sock: socket.socket) -> None:
        self.engine = engine
        cfg = engine.config
        self.config = cfg
        self.sock = sock
        self.http_backend = resolve_backend(cfg.http)
        self.limits = Limits(
            max_request_line=cfg.max_request_line, max_header_line=cfg.max_header_line,
            max_headers=cfg.max_headers, max_header_bytes=cfg.max_header_bytes,
            max_body_size=cfg.max_body_size,
        )
        self.connections: set[HttpConnection] = set()
        self.closing = False
        self._accepting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_pending: list[HttpConnection] = []  # rest of the current pass
        self.accepted = 0

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin accepting (call on the loop thread)."""
        self._loop = loop
        self._resume_accepting()
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)
        self.engine.metrics.add_gauge("open_connections", "Open client connections.",
                                      lambda: len(self.connections))
        # When the loop stops (end of a graceful stop) every socket still open must be
        # closed, or its descriptor lives on until garbage collection.
        self.engine.on_loop_stop.append(self.close_all)

    def _resume_accepting(self) -> None:
        if not self._accepting and not self.closing and self._loop is not None:
            self._accepting = True
            self._loop.add_reader(self.sock.fileno(), self._accept)

    def _pause_accepting(self) -> None:
        if self._accepting and self._loop is not None:
            self._accepting = False
            self._loop.remove_reader(self.sock.fileno())

    def _accept(self) -> None:
        loop = self._loop
        selector = self.engine.selector
        assert loop is not None and selector is not None
        for _ in range(ACCEPT_BATCH):
            if len(self.connections) >= self.config.max_connections:
                self._pause_accepting()
                return
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment instead of spinning.
                    self._pause_accepting()
                    loop.call_later(0.1, self._resume_accepting)
                    self.engine.logger.warn("accept failed; pausing", error=exc.strerror)
                return
            conn.setblocking(False)
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.accepted += 1
            try:
                SocketTransport(loop, selector, conn, HttpConnection(self))
            except OSError as exc:  # e.g. the client reset it already: drop it, go on
                conn.close()
                self.engine.logger.debug("could not register an accepted connection",
                                         error=exc.strerror or repr(exc))

    def connection_opened(self, conn: HttpConnection) -> None:
        self.connections.add(conn)
        if self._sweeper is None and self._loop is not None and not self.closing:
            self._sweeper = self._loop.call_later(SWEEP_TICK, self._sweep)

    def connection_closed(self, conn: HttpConnection) -> None:
        self.connections.discard(conn)
        if not self._accepting and len(self.connections) < self.config.max_connections:
            self._resume_accepting()

    def _sweep(self) -> None:
        """Check connections' deadlines a slice at a time: SWEEP_CHUNK connections
        every SWEEP_TICK, cycling through all of them. One pass over thousands of
        idle keep-alive connections takes milliseconds and would stall every request
        behind it; slices keep each stall to a fraction of a millisecond, and a
        connection is still checked at least every SWEEP_INTERVAL until there are
        more than SWEEP_CHUNK x SWEEP_INTERVAL / SWEEP_TICK of them.

        With no connection open the sweep stops (an idle server should not wake
        40 times a second) and the next connection starts it again."""
        self._sweeper = None
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if not self.connections and not self._sweep_pending:
            return
        if not self._sweep_pending:
            self._sweep_pending = list(self.connections)
        pending = self._sweep_pending
        chunk = pending[-SWEEP_CHUNK:]
        del pending[-SWEEP_CHUNK:]
        now = time.monotonic()
        cfg = self.config
        for conn in chunk:
            conn.expire(now, cfg)
        self._sweeper = loop.call_later(SWEEP_TICK, self._sweep)

    def begin_close(self) -> None:
        """Stop accepting and close idle connections at once (graceful stop).

        Connections with a complete request (queued or running) or a body arriving
        are answered first, with ``Connection: close``; the sweep closes them after.
        """
        self._stop_listening()
        for conn in list(self.connections):
            conn.close_if_idle()

    def _stop_listening(self) -> None:
        """No new connections from now on: stop polling and close the socket."""
        self.closing = True
        self._pause_accepting()
        try:
            self.sock.close()
        except OSError:
            pass

    def abort_all(self) -> None:
        """Reset every open connection and stop the sweep."""
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def close_all(self) -> None:
        """On the stopped (not yet closed) loop: abort what is left and let the
        transports run their close callbacks so the sockets are really closed."""
        loop = self._loop
        self._stop_listening()
        if loop is None or loop.is_closed() or loop.is_running():
            self.abort_all()
            return
        # A few turns first, so that callbacks already scheduled (connections
        # closing) run; abort() schedules connection_lost (which closes the socket)
        # with call_soon, so those need turns after.
        for _ in range(2):
            for _ in range(3):
                loop.run_until_complete(asyncio.sleep(0))
            self.abort_all()
        loop.run_until_complete(asyncio.sleep(0))
