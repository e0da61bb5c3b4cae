"""Raw-socket helpers shared by the edge, corpus, timeout and fuzz wire tests.

(Named ``test_edge_*`` only so that it sits with the files it serves; it holds no
tests.) Everything here talks to a real server over 127.0.0.1 with a timeout on
every wait.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import write_app

# GET /slow?s=SECONDS spins in Lua for that long (0.2 s by default).
SLOW_ROUTE = """
function api.slow.get(ctx)
  local t = os.clock() + tonumber(ctx:query().s or "0.2")
  while os.clock() < t do end
  return "slow"
end
"""

# Every path and every method answers 200 "ok", so a well-formed request never
# gets a routing 4xx and the status says only what the HTTP layer decided.
CATCH_ALL_APP = """
local api = rover.server {}
local function ok(ctx) return "ok" end
for _, m in ipairs({ "get", "post", "put", "patch", "delete", "options" }) do
  api[m] = ok
  api["p_*path"][m] = ok
end
""" + SLOW_ROUTE + """
return api
"""

PROTOCOL_ERRORS = frozenset({400, 413, 414, 431, 501, 505})
CANARY = b"GET /canary HTTP/1.1\r\nHost: canary\r\n\r\n"


def catch_all_app(folder: Path) -> Path:
    """Write the catch-all app into `folder` and return its path."""
    return write_app(folder, CATCH_ALL_APP)


def open_fds() -> int:
    """Open file descriptors of this process (the server runs in-process)."""
    return len(os.listdir("/proc/self/fd"))


def wait_fds(baseline: int, timeout: float = 5.0) -> int:
    """Wait until the descriptor count drops to `baseline`; return the last count."""
    deadline = time.monotonic() + timeout
    n = open_fds()
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
        n = open_fds()
    return n


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Exchange:
    """What came back on one connection."""

    responses: list[Response] = field(default_factory=list)
    closed: bool = False  # the server closed (EOF or reset) within the timeout
    reset: bool = False
    rest: bytes = b""  # trailing bytes that did not form a complete response

    @property
    def final(self) -> list[Response]:
        """Responses other than 1xx interim ones."""
        return [r for r in self.responses if r.status >= 200]


def parse_responses(data: bytes, head_methods: list[bool] | None = None) -> tuple[list[Response], bytes]:
    """Split `data` into complete Content-Length framed responses.

    `head_methods[i]` says whether the i-th final response answers a HEAD request
    (no body follows its Content-Length).
    """
    out: list[Response] = []
    finals = 0
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out, data
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise AssertionError(f"malformed status line: {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep, f"malformed header line {line!r}"
            headers[name.strip().lower()] = value.strip()
        is_head = status >= 200 and head_methods is not None and finals < len(head_methods) and head_methods[finals]
        n = 0 if is_head or status < 200 else int(headers.get("content-length", "0"))
        if len(data) < end + 4 + n:
            return out, data
        out.append(Response(status, headers, data[end + 4:end + 4 + n]))
        data = data[end + 4 + n:]
        if status >= 200:
            finals += 1


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(port: int, writes: list[bytes], *, want: int | None = None, pause: float = 0.0,
             head_methods: list[bool] | None = None, timeout: float = 5.0,
             half_close: bool = False) -> Exchange:
    """Send `writes` one by one, then read until the server closes, or until `want`
    final responses arrived (then the connection is left to be closed by us).
    With `half_close` the client shuts down its sending side after the writes."""
    ex = Exchange()
    buf = b""
    with connect(port, timeout) as sock:
        for piece in writes:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server already answered and closed; read what it sent
            if pause:
                time.sleep(pause)
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if want is not None:
                ex.responses, ex.rest = parse_responses(buf, head_methods)
                if len(ex.final) >= want:
                    return ex
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                ex.closed = ex.reset = True
                break
            if not chunk:
                ex.closed = True
                break
            buf += chunk
    ex.responses, ex.rest = parse_responses(buf, head_methods)
    return ex


class Canary:
    """A keep-alive client on its own connection that must always get 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def check(self) -> None:
        """One request; reconnect once if the server closed the idle connection."""
        for attempt in range(2):
            if self.sock is None:
                self.sock = connect(self.port)
            try:
                self.sock.sendall(CANARY)
                resp = self._read_one()
            except (ConnectionError, socket.timeout, AssertionError):
                self.close()
                if attempt:
                    raise
                continue
            assert resp.status == 200 and resp.body == b"ok", resp
            return

    def _read_one(self) -> Response:
        assert self.sock is not None
        buf = b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, "canary connection closed"
            buf += chunk
            responses, _rest = parse_responses(buf)
            if responses:
                return responses[0]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
