"""① One client socket, read and written by the I/O loop's selector.

Output is not sent the moment it is written: the selector sends every
connection's answers together, once per loop iteration (net/selector.py).

A small asyncio-style transport: :class:`~rover_mt.net.connection.HttpConnection`
talks to it through the methods of ``asyncio.Transport`` it uses (write,
write_eof, close, abort, pause/resume reading, write buffer limits; only those
are implemented) and gets the
usual protocol callbacks back. The difference is the path in: the selector calls
:meth:`SocketTransport.on_readable` / :meth:`on_writable` directly
(net/selector.py), without asyncio's callback objects in between.

Semantics follow asyncio's socket transport, so the connection code is the same
for both: ``connection_lost`` always comes from the loop (``call_soon``), never
from inside a call the protocol made; ``close()`` sends what is buffered first;
``abort()`` drops it; ``eof_received()`` returning true keeps the socket open
for writing; ``pause_writing()`` fires above the high-water mark and
``resume_writing()`` once the buffer drains to the low one.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from .selector import EVENT_READ, EVENT_WRITE, ServingSelector

#: Bytes asked of the kernel per read: one request, or a good slice of a body.
READ_SIZE = 65536


class SocketTransport(asyncio.Transport):
    """A non-blocking TCP socket served by :class:`ServingSelector`."""

    __slots__ = ("_loop", "_selector", "_sock", "_fd", "_protocol", "mask", "_buffer",
                 "_closing", "closed", "_eof_wanted", "_high", "_low", "_write_paused",
                 "_peer", "_peer_eof", "_worker_sending", "_close_deferred")

    def __init__(self, loop: asyncio.AbstractEventLoop, selector: ServingSelector,
                 sock: socket.socket, protocol: asyncio.Protocol) -> None:
        self._loop = loop
        self._selector = selector
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol: Any = protocol
        self.mask = 0  # the events the selector polls this socket for (reading: EVENT_READ)
        self._buffer = bytearray()  # accepted by write() but not yet by the kernel
        self._closing = False  # close() or abort() was called
        self.closed = False  # the socket is closed and connection_lost is scheduled
        self._eof_wanted = False  # write_eof() was called: shut down once the buffer is sent
        self._high = 65536
        self._low = 16384
        self._write_paused = False
        self._peer_eof = False  # the peer shut down its sending side: never read again
        # A worker thread is in send_from_worker(): the socket must stay open (its
        # descriptor could be reused by the next accept) until it returns.
        self._worker_sending = False
        self._close_deferred = False
        try:
            self._peer = sock.getpeername()
        except OSError:
            self._peer = None
        self._set_mask(EVENT_READ)
        protocol.connection_made(self)

    # -- selector events --------------------------------------------------
    def on_readable(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # reset by the peer, mostly
            self._force_close(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        # The peer shut down its sending side.
        self._peer_eof = True
        self._stop_reading()
        if not self._closing and not self._protocol.eof_received():
            self.close()

    def on_writable(self) -> None:
        """Send what the kernel will take now (the selector calls this for queued
        output, and when the socket has room again)."""
        buffer = self._buffer
        if self.closed or not buffer:
            return
        try:
            sent = self._sock.send(buffer)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._force_close(exc)
            return
        del buffer[:sent]
        self._after_send()

    def _after_send(self) -> None:
        if self._buffer:
            self._set_mask(self.mask | EVENT_WRITE)
        else:
            if self.mask & EVENT_WRITE:  # else nothing to change (the usual case)
                self._set_mask(self.mask & ~EVENT_WRITE)
            if self._closing:
                self._finish(None)
                return
            if self._eof_wanted:
                self._shutdown_write()
        if self._write_paused and len(self._buffer) <= self._low:
            self._write_paused = False
            self._protocol.resume_writing()

    # -- a worker's answer, sent from the worker's thread -------------------
    def idle_for_worker(self) -> bool:
        """Nothing is queued or pending for this socket, so bytes sent now go out
        in order (any thread, GIL held)."""
        return not (self._closing or self.closed or self._eof_wanted or self._buffer
                    or self.mask & EVENT_WRITE)

    def send_from_worker(self, data: bytes) -> int:
        """Send `data` from a worker thread, as much as the kernel takes now;
        returns how many bytes went (0 on any error: the loop then sends them
        itself and sees the error). Only when :meth:`idle_for_worker` said so
        and the connection routes no other output here meanwhile
        (HttpConnection.send_early)."""
        self._worker_sending = True
        try:
            return self._sock.send(data)
        except OSError:
            return 0
        finally:
            self._worker_sent()

    def _worker_sent(self) -> None:
        self._worker_sending = False
        if self._close_deferred:  # the loop closed it meanwhile: close the socket now
            self._close_deferred = False
            self._sock.close()

    # -- asyncio.Transport ---------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data`; it is sent with the other answers of this loop iteration."""
        if self._closing or self._eof_wanted or not data:
            return  # like asyncio: writing after close or write_eof is dropped
        buffer = self._buffer
        if not buffer and not self.mask & EVENT_WRITE:
            self._selector.unsent.append(self)
        buffer += data
        if not self._write_paused and len(buffer) > self._high:
            self._write_paused = True
            self._protocol.pause_writing()

    def write_eof(self) -> None:
        if self._closing or self._eof_wanted:
            return
        self._eof_wanted = True
        if not self._buffer:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        """Stop reading; close once the buffered output is sent."""
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._finish(None)

    def abort(self) -> None:
        """Close now, dropping buffered output."""
        self._force_close(None)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        if not self._closing:
            self._stop_reading()

    def resume_reading(self) -> None:
        if not self._closing and not self._peer_eof:
            self._set_mask(self.mask | EVENT_READ)

    def is_reading(self) -> bool:
        return bool(self.mask & EVENT_READ)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        high = 65536 if high is None else high
        self._high = high
        self._low = high // 4 if low is None else low

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        if name == "socket":
            return None if self.closed else self._sock
        return default

    # -- internals ------------------------------------------------------------
    def _set_mask(self, mask: int) -> None:
        """Poll the socket for `mask` (nothing at all once it is 0)."""
        old = self.mask
        if mask == old or self.closed:
            return
        self.mask = mask
        sel = self._selector
        if not old:
            sel.register(self._fd, mask, self)
        elif not mask:
            sel.unregister(self._fd)
        else:
            sel.modify(self._fd, mask, self)

    def _stop_reading(self) -> None:
        self._set_mask(self.mask & ~EVENT_READ)

    def _shutdown_write(self) -> None:
        # Runs once: after write_eof() nothing more is written, so the buffer
        # empties (and brings us here) only once.
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:  # the peer is gone already
            self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self._closing = True
        self._buffer.clear()
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        """Forget the socket and tell the protocol (from the loop, like asyncio)."""
        if self.closed:
            return
        self._set_mask(0)
        self.closed = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            if self._worker_sending:
                self._close_deferred = True  # send_from_worker() closes it
            else:
                self._sock.close()
