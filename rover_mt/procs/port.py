"""Reserving the port that every server process will share (SO_REUSEPORT)."""

from __future__ import annotations

import socket

from ..net.listener import bind_socket


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT.

    It fixes the real port when ``port`` is 0 and keeps it ours while children
    come and go. It never listens: the kernel spreads new connections over the
    *listening* sockets of the port, and one that never accepts would strand them.
    The options match the children's listeners, or the kernel refuses theirs.
    Raises AddressInUseError (exit 2) when another program holds the port.
    """
    return bind_socket(host, port, reuse_port=True, listen=False)
