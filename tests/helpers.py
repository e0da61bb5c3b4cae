"""Small helpers shared by the test layers: write a Lua app, talk raw HTTP."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_app(folder: Path, source: str, name: str = "app.lua") -> Path:
    """Write a Lua app (dedented) and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def metrics_text(port: int) -> str:
    """The server's /metrics page."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def busy_app(seconds: float) -> str:
    """A Lua app whose `GET /slow` spins `seconds` of CPU, then answers "done"."""
    return f"""
local api = rover.server {{}}
function api.slow.get()
  local t = os.clock() + {seconds}
  while os.clock() < t do end
  return "done"
end
return api
"""


def send_slow(port: int) -> socket.socket:
    """Open a connection and send `GET /slow` with `Connection: close`; the
    answer is read later (read_to_close)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends on `sock` until it closes; then close it."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    return data


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0, until_close: bool = True) -> bytes:
    """Send raw bytes; read until the server closes (or `timeout` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not until_close:
                break
        return b"".join(chunks)


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse a byte stream of Content-Length framed responses."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        body, data = rest[:n], rest[n:]
        out.append((status, headers, body))
        if status == 100:
            continue
    return out


def start_serve(app: Path | str, *flags: str) -> tuple[subprocess.Popen[str], int]:
    """Start `python -m rover_mt serve APP --port 0 FLAGS...` and read the real port
    from the banner on stderr. The caller stops the process."""
    proc = subprocess.Popen([sys.executable, "-m", "rover_mt", "serve", str(app), "--port", "0", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise AssertionError(f"no banner; exit code {proc.poll()}")
