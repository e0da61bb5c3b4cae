"""Small helpers shared by the test layers: write a Lua app, talk raw HTTP."""

from __future__ import annotations

import socket
import textwrap
import time
from pathlib import Path


def write_app(folder: Path, source: str, name: str = "app.lua") -> Path:
    """Write a Lua app (dedented) and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


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
