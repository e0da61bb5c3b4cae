"""Parser API behaviour beyond the corpus: limits with small settings, pipelining,
dead parsers, in_progress, backend selection."""

from __future__ import annotations

import pytest

from rover_mt.protocol import (
    BodyData,
    Limits,
    MessageEnd,
    ProtocolError,
    RequestHead,
    available_backends,
    make_parser,
    resolve_backend,
)

BACKENDS = available_backends()
GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"



@pytest.mark.parametrize("backend", BACKENDS)
def test_pipelined_bytes_wait_for_start_next(backend: str) -> None:
    parser = make_parser(backend, Limits())
    events = parser.feed(GET + b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [type(e) for e in events] == [RequestHead, MessageEnd]
    assert parser.feed(b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n") == []
    second = parser.start_next()
    assert second[0].target == b"/2" and isinstance(second[1], MessageEnd)
    third = parser.start_next()
    assert third[0].target == b"/3"
    assert parser.start_next() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_start_next_before_message_end_is_a_caller_bug(backend: str) -> None:
    parser = make_parser(backend, Limits())
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(RuntimeError):
        parser.start_next()


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_progress_tracks_partial_requests(backend: str) -> None:
    parser = make_parser(backend, Limits())
    assert not parser.in_progress
    parser.feed(b"\r\n")  # a stray empty line is not a request yet
    assert not parser.in_progress
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\n")
    assert parser.in_progress
    parser.feed(b"Content-Length: 2\r\n\r\nx")
    assert parser.in_progress
    assert isinstance(parser.feed(b"y")[-1], MessageEnd)
    assert not parser.in_progress
    parser.feed(b"GE")  # buffered for the next request, which has not started
    assert not parser.in_progress
    assert parser.start_next() == []
    assert parser.in_progress


@pytest.mark.parametrize("backend", BACKENDS)
def test_error_kills_the_parser(backend: str) -> None:
    parser = make_parser(backend, Limits())
    with pytest.raises(ProtocolError) as first:
        parser.feed(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
    assert first.value.status == 400
    with pytest.raises(ProtocolError) as again:
        parser.feed(GET)
    assert again.value is first.value


@pytest.mark.parametrize("backend", BACKENDS)
def test_feed_after_eof_is_a_caller_bug(backend: str) -> None:
    parser = make_parser(backend, Limits())
    parser.feed(b"GET / HT")
    parser.feed_eof()
    with pytest.raises(RuntimeError):
        parser.feed(b"TP/1.1\r\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_content_length_over_limit_is_refused_before_the_body(backend: str) -> None:
    parser = make_parser(backend, Limits(max_body_size=10))
    with pytest.raises(ProtocolError) as err:
        parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert err.value.status == 413


@pytest.mark.parametrize("backend", BACKENDS)
def test_body_at_limit_is_accepted(backend: str) -> None:
    parser = make_parser(backend, Limits(max_body_size=10))
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789")
    assert b"".join(e.data for e in events if isinstance(e, BodyData)) == b"0123456789"


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_body_over_limit_fails_once_it_exceeds(backend: str) -> None:
    parser = make_parser(backend, Limits(max_body_size=10))
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    events += parser.feed(b"6\r\nabcdef\r\n")
    assert BodyData(b"abcdef") in events
    with pytest.raises(ProtocolError) as err:
        parser.feed(b"5\r\n")
    assert err.value.status == 413


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("limits", "head", "status"),
    [
        (Limits(max_request_line=20), b"GET /" + b"a" * 6 + b" HTTP/1.1\r\nHost: a\r\n\r\n", None),
        (Limits(max_request_line=20), b"GET /" + b"a" * 7 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (Limits(max_header_line=10), b"GET / HTTP/1.1\r\nHost: abcd\r\n\r\n", None),
        (Limits(max_header_line=10), b"GET / HTTP/1.1\r\nHost: abcde\r\n\r\n", 431),
        (Limits(max_headers=2), b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n", None),
        (Limits(max_headers=2), b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 431),
        (Limits(max_header_bytes=27), GET, None),
        (Limits(max_header_bytes=26), GET, 431),
        # The section limit is reached inside the over-long request line first.
        (Limits(max_request_line=20, max_header_bytes=21), b"GET /" + b"a" * 30, 431),
    ],
)
def test_limit_boundaries(backend: str, limits: Limits, head: bytes, status: int | None) -> None:
    for writes in ([head], [head[i : i + 1] for i in range(len(head))]):
        parser = make_parser(backend, limits)
        try:
            for chunk in writes:
                parser.feed(chunk)
        except ProtocolError as err:
            assert err.status == status
        else:
            assert status is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_limit_counts_however_bytes_arrive(backend: str) -> None:
    # A megabyte of headers in one write must be refused like a trickle would be.
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: " + b"y" * 1_000_000 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as err:
        make_parser(backend, Limits()).feed(head)
    assert err.value.status == 431


def test_resolve_backend() -> None:
    assert resolve_backend("h11") == "h11"
    assert resolve_backend("auto") == available_backends()[0]
    with pytest.raises(ValueError):
        resolve_backend("picohttp")
    assert "h11" in available_backends()


UPGRADE_HEADS = {
    "plain": b"Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
    "obs-text": b"Host: a\r\nConnection: upgrade\r\nUpgrade: w\xe9bsocket\r\n",  # detailed path
}
UPGRADE_BODIES = {  # framing field, body on the wire, body decoded
    "none": (b"", b"", b""),
    "length": (b"Content-Length: 3\r\n", b"abc", b"abc"),
    "chunked": (
        b"Transfer-Encoding: chunked\r\n",
        b"1\r\na\r\n2\r\nbc\r\n0\r\nT: x\r\n\r\n",
        b"abc",
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("head_kind", UPGRADE_HEADS)
@pytest.mark.parametrize("body_kind", UPGRADE_BODIES)
def test_upgrade_request_is_an_ordinary_request(
    backend: str, head_kind: str, body_kind: str
) -> None:
    # The server never switches protocols: the request is answered like any other and
    # the connection carries on (llhttp would stop at the head and drop the body).
    framing, wire_body, body = UPGRADE_BODIES[body_kind]
    data = b"POST /up HTTP/1.1\r\n" + UPGRADE_HEADS[head_kind] + framing + b"\r\n" + wire_body + GET
    for step in (len(data), 1, 5):
        parser = make_parser(backend, Limits())
        heads, received, ends = [], b"", 0
        for i in range(0, len(data), step):
            events = parser.feed(data[i : i + step])
            while events:
                for event in events:
                    if type(event) is RequestHead:
                        heads.append(event.target)
                    elif type(event) is BodyData:
                        received += event.data
                    else:
                        ends += 1
                events = parser.start_next() if type(events[-1]) is MessageEnd else []
        assert (heads, received, ends) == ([b"/up", b"/"], body, 2), f"step {step}"
