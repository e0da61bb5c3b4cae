"""Idle footprint of rover-mt: RSS with 2 idle workers, then per idle
keep-alive connection (each connection sends one request, reads the answer,
and stays open).  The sockets are held by this process.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from answers import read_answer
from procmem import tree_memory
from servers import RunningServer, ServerSpec, rover_spec
from workloads import WORKLOADS, validate

CONNECTION_COUNTS = (1000, 5000)
FOOTPRINT_SPEC = rover_spec("rover-mt-idle", "rover-mt, 2 workers, idle", ("W1",), workers=2,
                            keepalive_timeout=600, max_connections=max(CONNECTION_COUNTS) + 100)
_REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _open_keepalive(port: int, timeout_s: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    try:
        sock.sendall(_REQUEST)
        read_answer(sock)
    except OSError:
        sock.close()
        raise
    return sock


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def measure_footprint(settle_s: float = 1.0, spec: ServerSpec = FOOTPRINT_SPEC,
                      counts: tuple[int, ...] = CONNECTION_COUNTS) -> dict[str, Any]:
    """RSS of an idle rover-mt, then with 1,000 and 5,000 idle keep-alive connections."""
    held: list[socket.socket] = []
    points = []
    with RunningServer(spec) as server:
        time.sleep(settle_s)
        started = tree_memory(server.pid)
        validate(server.port, WORKLOADS["W1"])
        time.sleep(settle_s)
        idle = tree_memory(server.pid)
        try:
            for count in counts:
                while len(held) < count:
                    held.append(_open_keepalive(server.port))
                time.sleep(settle_s)
                memory = tree_memory(server.pid)
                open_now = sum(_still_open(s) for s in held)
                points.append({"connections": count, "open": open_now, "rss_kib": memory.rss_kib,
                               "per_connection_kib": (memory.rss_kib - idle.rss_kib) / count})
        finally:
            for sock in held:
                sock.close()
    per_conn = max((p["per_connection_kib"] for p in points), default=float("nan"))
    return {
        "server": spec.name, "settings": dict(spec.settings),
        "rss_at_start_kib": started.rss_kib, "rss_idle_kib": idle.rss_kib,
        "points": points,
        "met": {"idle_rss_within_60_mib": idle.rss_kib <= 60 * 1024,
                "per_connection_within_10_kib": per_conn <= 10},
    }
