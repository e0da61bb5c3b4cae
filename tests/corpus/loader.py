"""Load the raw-request corpus and replay it through a parser under several splits.

File format (``valid/*.http`` and ``invalid/*.http``):

* Leading lines starting with ``#`` are metadata, ``key: value``:
  ``expect`` (invalid files: the ProtocolError status), ``requests`` (invalid files:
  how many complete requests come before the error, default 0), ``why`` (free text,
  usually the RFC section or the attack it models).
* The rest is the request bytes written as text.  Real newlines in the file are
  ignored, so a request can be laid out one line per line; bytes are written with
  escapes: ``\\r`` ``\\n`` ``\\t`` ``\\0`` ``\\\\`` and ``\\xHH``.  ``{{N*text}}`` repeats
  ``text`` (which may contain escapes but no braces) N times, for size-limit cases.
* A valid file ``NAME.http`` has ``NAME.json``: a list with one object per request,
  holding any of ``method target version headers body keep_alive expect_continue
  content_length chunked``; only the keys present are checked.  Byte strings are
  written as latin-1 text; ``headers`` is a list of ``[name, value]`` pairs.

The lead's wire tests can send ``Case.data`` over a socket and compare statuses.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rover_mt.protocol import BodyData, MessageEnd, Parser, ProtocolError, RequestHead

CORPUS_DIR = Path(__file__).parent

_REPEAT = re.compile(rb"\{\{(\d+)\*([^{}]*)\}\}")
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[rnt0\\])")
_SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\x00", b"\\": b"\\"}


@dataclass(frozen=True)
class Case:
    """One corpus file: its bytes and the outcome a parser must produce."""

    name: str  # "valid/get_simple"
    data: bytes
    why: str
    status: int | None  # expected ProtocolError status; None for valid files
    requests_before_error: int = 0
    expected: list[dict[str, Any]] = field(default_factory=list)  # valid files only


@dataclass
class Outcome:
    """What a parser made of a byte stream: complete requests, then maybe an error."""

    requests: list[tuple[RequestHead, bytes]]
    error: ProtocolError | None
    in_progress: bool


def decode_request_text(text: bytes) -> bytes:
    """Turn the escaped text of a corpus file body into the raw request bytes."""
    text = text.replace(b"\r", b"").replace(b"\n", b"")
    text = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)

    def unescape(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _SIMPLE_ESCAPES[code]

    return _ESCAPE.sub(unescape, text)


def load_case(path: Path) -> Case:
    """Read one ``.http`` file (and its ``.json`` for valid cases)."""
    meta: dict[str, str] = {}
    lines = path.read_bytes().split(b"\n")
    while lines and lines[0].startswith(b"#"):
        key, _, value = lines.pop(0)[1:].decode().partition(":")
        meta[key.strip()] = value.strip()
    data = decode_request_text(b"\n".join(lines))
    name = f"{path.parent.name}/{path.stem}"
    if path.parent.name == "valid":
        expected = json.loads(path.with_suffix(".json").read_text())
        return Case(name, data, meta.get("why", ""), None, 0, expected)
    return Case(
        name,
        data,
        meta.get("why", ""),
        int(meta["expect"]),
        int(meta.get("requests", "0")),
    )


def load_corpus(kind: str | None = None) -> list[Case]:
    """All cases, or only those of ``kind`` ("valid" or "invalid"), sorted by name."""
    kinds = [kind] if kind else ["valid", "invalid"]
    return [load_case(p) for k in kinds for p in sorted((CORPUS_DIR / k).glob("*.http"))]


def split_strategies(data: bytes, seeds: tuple[int, ...] = (1, 2, 3)) -> dict[str, list[bytes]]:
    """Ways of cutting ``data`` into writes: whole, per line, per byte, random (seeded)."""
    lines = data.splitlines(keepends=True) or [b""]
    strategies = {
        "whole": [data],
        "lines": lines,
        "bytes": [data[i : i + 1] for i in range(len(data))],
    }
    for seed in seeds:
        rng = random.Random(seed)
        pieces, pos = [], 0
        while pos < len(data):
            step = rng.randint(1, 40)
            pieces.append(data[pos : pos + step])
            pos += step
        strategies[f"random{seed}"] = pieces
    return strategies


def replay(parser: Parser, writes: list[bytes], *, eager: bool = True) -> Outcome:
    """Feed ``writes`` to ``parser`` as a server would and collect whole requests.

    With ``eager`` the next request is started as soon as one ends (the response is
    taken to be sent at once); otherwise everything is written first and the buffered
    pipeline is drained afterwards.
    """
    requests: list[tuple[RequestHead, bytes]] = []
    state: dict[str, Any] = {"head": None, "body": [], "ended": False}

    def take(events: list[Any]) -> None:
        for event in events:
            if isinstance(event, RequestHead):
                state["head"], state["body"] = event, []
            elif isinstance(event, BodyData):
                state["body"].append(event.data)
            elif isinstance(event, MessageEnd):
                requests.append((state["head"], b"".join(state["body"])))
                state["ended"] = True

    def drain() -> None:
        while state["ended"]:
            state["ended"] = False
            take(parser.start_next())

    try:
        for chunk in writes:
            take(parser.feed(chunk))
            if eager:
                drain()
        drain()
    except ProtocolError as exc:
        return Outcome(requests, exc, False)
    return Outcome(requests, None, parser.in_progress)


def check_expected(request: RequestHead, body: bytes, expected: dict[str, Any]) -> list[str]:
    """Differences between a parsed request and a corpus expectation (empty when equal)."""
    as_bytes: Callable[[str], bytes] = lambda s: s.encode("latin-1")  # noqa: E731
    actual: dict[str, Any] = {
        "method": request.method,
        "target": request.target,
        "version": request.http_version,
        "headers": [list(h) for h in request.headers],
        "body": body,
        "keep_alive": request.keep_alive,
        "expect_continue": request.expect_continue,
        "content_length": request.content_length,
        "chunked": request.chunked,
    }
    problems = []
    for key, want in expected.items():
        if key in ("target", "body"):
            want = as_bytes(want)
        elif key == "headers":
            want = [[as_bytes(n), as_bytes(v)] for n, v in want]
        if actual[key] != want:
            problems.append(f"{key}: expected {want!r}, got {actual[key]!r}")
    return problems
