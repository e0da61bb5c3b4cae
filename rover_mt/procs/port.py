"""Reserving the port that every server process will share (SO_REUSEPORT)."""

from __future__ import annotations

import errno
import socket

from ..errors import AddressInUseError, StartupError


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT.

    It fixes the real port when ``port`` is 0 and keeps it ours while children
    come and go. It never listens: the kernel spreads new connections over the
    *listening* sockets of the port, and one that never accepts would strand them.
    Raises AddressInUseError (exit 2) when another program holds the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # The same options as the children's listeners, or the kernel refuses them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(f"address {host}:{port} is already in use") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
