"""The plain-head fast path must be invisible: with and without it, every backend gives
the same events (types, fields, body pieces) and the same ProtocolError status and reason,
however the bytes are split and whatever the limits.

The fast path skips the backend library for plain heads, so these tests are what shows
that neither h11 nor llhttp would have decided differently for any of them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.loader import Case, load_corpus, split_strategies  # noqa: E402

from rover_mt.protocol import (  # noqa: E402
    Limits,
    MessageEnd,
    ProtocolError,
    RequestHead,
    available_backends,
)
from rover_mt.protocol.core import FramedParser  # noqa: E402
from rover_mt.protocol.h11_backend import H11Decoder  # noqa: E402
from rover_mt.protocol.plain_head import PlainHeadReader  # noqa: E402

BACKENDS = available_backends()
CASES = load_corpus()
# Small limits put heads near every boundary, where the fast path must step aside.
TIGHT = Limits(
    max_request_line=64, max_header_line=40, max_headers=3, max_header_bytes=200, max_body_size=10
)
# Few fields but long lines: only the field count can stop the fast path.
FEW_FIELDS = Limits(max_headers=2)
LIMITS = [Limits(), TIGHT, FEW_FIELDS]


def _parser(backend: str, limits: Limits, fast_path: bool) -> FramedParser:
    if backend == "httptools":
        from rover_mt.protocol.httptools_backend import HttptoolsDecoder

        return FramedParser(HttptoolsDecoder(limits), limits, fast_path=fast_path)
    return FramedParser(H11Decoder(limits), limits, fast_path=fast_path)


def trace(parser: FramedParser, writes: list[bytes]) -> list[Any]:
    """Everything observable: each call's events, then the error or in_progress."""
    seen: list[Any] = []
    try:
        for chunk in writes:
            events = parser.feed(chunk)
            while True:
                seen.append([(type(e).__name__, tuple(e)) for e in events])
                if not events or type(events[-1]) is not MessageEnd:
                    break
                events = parser.start_next()
    except ProtocolError as exc:
        seen.append(("error", exc.status, exc.reason))
    else:
        seen.append(("in_progress", parser.in_progress))
    return seen


def assert_paths_agree(data_writes: list[bytes], limits: Limits) -> None:
    for backend in BACKENDS:
        fast = trace(_parser(backend, limits, True), data_writes)
        slow = trace(_parser(backend, limits, False), data_writes)
        assert fast == slow, backend


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_same_with_and_without_fast_path(case: Case) -> None:
    for limits in LIMITS:
        for writes in split_strategies(case.data, seeds=(1,)).values():
            assert_paths_agree(writes, limits)


# -- which heads take the fast path ---------------------------------------------------

PLAIN = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /hello?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1:4242\r\nAccept: */*\r\n\r\n",
    b"PURGE /x HTTP/1.0\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost:a\r\nX-Empty:\r\nX-Inner: a  b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nCookie: n=\xc3\xa9\x80\xff\r\n\r\n",  # obs-text
]
NOT_PLAIN = [
    b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",  # backend de-chunks
    b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",  # absolute form
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n",  # tab
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",  # DEL
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",  # NUL
    b"GET / HTTP/1.1\r\nHost: a \r\n\r\n",  # trailing space
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n",  # incomplete
]


@pytest.mark.parametrize("head", PLAIN)
def test_plain_heads_take_the_fast_path(head: bytes) -> None:
    reader = PlainHeadReader(Limits())
    found = reader.read(head + b"tail", 0)
    assert found is not None and found[1] == len(head)
    assert reader.read(head, 0, len(head)) == found  # the head-arrived-in-pieces form
    assert type(found[0]) is RequestHead


@pytest.mark.parametrize("head", NOT_PLAIN)
def test_other_heads_take_the_detailed_path(head: bytes) -> None:
    assert PlainHeadReader(Limits()).read(head, 0) is None


def test_heads_near_a_limit_take_the_detailed_path() -> None:
    # A head longer than the shortest line limit goes to the scanner even when each
    # line is within its own limit: the fast path only takes heads too short to break one.
    limits = Limits(max_headers=2, max_request_line=60)
    reader = PlainHeadReader(limits)
    assert reader.read(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", 0) is not None
    assert reader.read(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n", 0) is None
    assert reader.read(b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 0) is None


def test_fast_path_reports_the_shared_errors() -> None:
    with pytest.raises(ProtocolError) as info:
        PlainHeadReader(Limits()).read(b"GET / HTTP/1.1\r\nX: 1\r\n\r\n", 0)
    assert (info.value.status, info.value.reason) == (400, "missing Host header")


# -- generated heads near the plain grammar --------------------------------------------

_NAMES = [
    "Host", "host", "HOST", "Content-Length", "content-length", "Transfer-Encoding",
    "Connection", "Expect", "Upgrade", "Proxy-Connection", "Keep-Alive", "TE", "Trailer",
    "X-A", "Accept", "b@d", "",
]  # fmt: skip
_VALUES = [
    "a", "localhost:8080", "[::1]:80", "bad host", "chunked", "Chunked", "gzip", "close",
    "keep-alive", "Upgrade", "upgrade, keep-alive", "websocket", "100-continue", "0",
    "3", "007", "12", "1 2", "99999999999999999999", "", " a", "a ", "a\tb", "\xe9",
    "a#b", "*/*", "x: y", "\x80", "\xff\xfe", "caf\xc3\xa9", "a\x7f",
]  # fmt: skip
_TARGETS = ["/", "/a/b?c=d", "/%7e", "/#x", "*", "http://h/p", "/a b", "//x"]


@st.composite
def near_plain_streams(draw: st.DrawFn) -> list[bytes]:
    """One or two requests whose heads are mostly plain, cut into random pieces."""
    requests = []
    for _ in range(draw(st.integers(1, 2))):
        method = draw(st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "M-SEARCH", "get"]))
        target = draw(st.sampled_from(_TARGETS) | st.from_regex(r"/[!-~]{0,12}", fullmatch=True))
        version = draw(st.sampled_from(["1.1", "1.1", "1.0", "1.2"]))
        lines = [f"{method} {target} HTTP/{version}"]
        for _ in range(draw(st.integers(0, 5))):
            name = draw(st.sampled_from(_NAMES))
            value = draw(st.sampled_from(_VALUES) | st.from_regex(r"[ -~]{0,12}", fullmatch=True))
            lines.append(f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = draw(st.sampled_from([b"", b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"0123456789ab"]))
        requests.append(head + body)
    data = b"".join(requests)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_plain_streams(), st.sampled_from(LIMITS))
def test_generated_requests_same_with_and_without_fast_path(
    writes: list[bytes], limits: Limits
) -> None:
    assert_paths_agree(writes, limits)


# -- the last-head memory --------------------------------------------------------------

_LINES = [
    b"GET / HTTP/1.1", b"GET /a?b=c HTTP/1.1", b"POST /u HTTP/1.1", b"GET / HTTP/1.0",
    b"DELETE /a HTTP/1.0", b"GET http://h/a HTTP/1.1", b"GET /a#f HTTP/1.1",
]  # fmt: skip
_BLOCKS = [  # field block, body that goes with it
    (b"Host: a\r\n", b""),
    (b"Host: a\r\nConnection: close\r\n", b""),
    (b"Host: a\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n", b""),
    (b"Host: a\r\nContent-Length: 3\r\n", b"xyz"),
    (b"Host: a\r\nTransfer-Encoding: chunked\r\n", b"2\r\nab\r\n0\r\n\r\n"),
    (b"Host: a\r\nX: \xe9\r\n", b""),
    (b"Host: a\r\nX: \tb\r\n", b""),
    (b"X: 1\r\n", b""),
    (b"", b""),
    (b"Host: a\r\nA: 1\r\nB: 2\r\n", b""),
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_LINES), st.sampled_from(_BLOCKS)), min_size=2, max_size=6),
    st.booleans(),
    st.sampled_from(LIMITS),
)
def test_repeated_heads_and_field_blocks_same_with_and_without_fast_path(
    requests: list[tuple[bytes, tuple[bytes, bytes]]], whole: bool, limits: Limits
) -> None:
    # Request lines and field blocks come from small pools, so the same head or the
    # same fields under another request line or version follow each other often.
    messages = [line + b"\r\n" + block + b"\r\n" + body for line, (block, body) in requests]
    writes = [b"".join(messages)] if whole else messages
    assert_paths_agree(writes, limits)


def test_a_repeated_head_is_answered_from_memory() -> None:
    reader = PlainHeadReader(Limits())
    head = b"GET /a HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
    first = reader.read(head, 0)
    assert first is not None and reader.read(bytearray(b"xx" + head), 2) is first
    other = reader.read(head.replace(b"/a", b"/b"), 0)
    assert other is not None and other[0].target == b"/b"
    assert other[0].headers is first[0].headers  # same fields, not split again
    assert other[0]._replace(target=b"/a") == first[0]
    http10 = reader.read(head.replace(b"1.1", b"1.0"), 0)
    assert http10 is not None and http10[0].http_version == "1.0"
    assert http10[0].keep_alive is False  # the fields mean something else under 1.0
