"""Issue 8 part 4: parser properties.

Parser level (fast, every backend): any split of a valid pipelined stream gives the
same requests as feeding it at once, and they are the requests that were sent;
arbitrary or damaged bytes give events or ProtocolError, never another exception,
and the same outcome whatever the split and whichever the backend.

Wire level (a few bounded examples): a real Server answers damaged bytes with
well-formed responses or a close and keeps serving other connections; a pipelined
stream gets the same responses however it is split into TCP writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rover_mt
from rover_mt.protocol import RequestHead, available_backends

from .http_strategies import GeneratedRequest, hostile_bytes, pipelined, splits
from .parser_harness import exchange, parse_stream, split_responses

BACKENDS = available_backends()
WIRE_EXAMPLES = max(4, settings.default.max_examples // 16)   # 12 in the ci profile


def as_expected(head: RequestHead, body: bytes) -> tuple:
    """A parsed message in the shape of ``http_strategies.Expected``."""
    return (head.method, head.target, head.http_version, head.headers, head.keep_alive,
            head.expect_continue, head.content_length, head.chunked, body)


def expected_of(request: GeneratedRequest) -> tuple:
    e = request.expected
    return (e.method, e.target, e.http_version, e.headers, e.keep_alive, e.expect_continue,
            e.content_length, e.chunked, e.body)


@given(backend=st.sampled_from(BACKENDS), reqs=pipelined(), data=st.data())
@example(backend=BACKENDS[-1], reqs=None, data=None)  # byte at a time, hand-written stream
def test_any_split_of_a_valid_stream_parses_the_same(
        backend: str, reqs: list[GeneratedRequest] | None, data: st.DataObject | None) -> None:
    if reqs is None:
        stream = (b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n"
                  b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        pieces = [stream[i:i + 1] for i in range(len(stream))]
        expected_bodies = [b"abc", b""]
    else:
        stream = b"".join(r.raw for r in reqs)
        pieces = data.draw(splits(stream), label="pieces")
        expected_bodies = [r.expected.body for r in reqs]
    whole = parse_stream(backend, [stream])
    split = parse_stream(backend, pieces)
    assert whole.error is None and split.error is None
    assert split == whole
    assert not whole.in_progress
    assert [body for _, body in whole.messages] == expected_bodies
    if reqs is not None:
        assert [as_expected(h, b) for h, b in whole.messages] == [expected_of(r) for r in reqs]


@given(raw=hostile_bytes(), data=st.data())
@example(raw=b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
         data=None)
@example(raw=b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"ffffffffffffffffff\r\n", data=None)
@example(raw=b"\x00\xff\r\n\r\n", data=None)
def test_arbitrary_bytes_give_events_or_protocol_error(raw: bytes,
                                                       data: st.DataObject | None) -> None:
    # parse_stream lets anything but ProtocolError escape, and checks the statuses.
    outcomes = {backend: parse_stream(backend, [raw]) for backend in BACKENDS}
    first = outcomes[BACKENDS[0]]
    for backend, outcome in outcomes.items():
        assert outcome == first, f"{backend} disagrees with {BACKENDS[0]}"
    if data is not None:
        pieces = data.draw(splits(raw), label="pieces")
        for backend in BACKENDS:
            assert parse_stream(backend, pieces) == first, f"{backend}, split {pieces!r}"


# --- wire level -------------------------------------------------------------------

WIRE_APP = """\
local api = rover.server {}
-- A string, not a table: JSON key order differs between runtimes.
local function echo(ctx) return ctx.method .. " " .. ctx.path end
api.get = echo
for _, m in ipairs({ "get", "post", "put", "patch", "delete", "options" }) do
  api["p_*rest"][m] = echo
end
return api
"""
CANARY = b"GET / HTTP/1.1\r\nHost: canary\r\nConnection: close\r\n\r\n"
# Per-response headers that legitimately differ between two identical requests.
VARYING = ("date", "x-request-id")


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    app = tmp_path_factory.mktemp("wire") / "app.lua"
    app.write_text(WIRE_APP)
    server = rover_mt.Server(app, port=0, workers=2, docs=False, log_level="nope")
    server.start()
    try:
        yield server.port
    finally:
        server.stop(timeout=10)


def canary_answers(port: int) -> None:
    received, _ = exchange(port, [CANARY])
    responses, rest = split_responses(received)
    assert [status for status, _, _ in responses] == [200] and rest == b""


WIRE = settings(max_examples=WIRE_EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@WIRE
@given(raw=hostile_bytes(allow_head=False), data=st.data())
def test_wire_damaged_bytes_get_responses_or_a_close(server_port: int, raw: bytes,
                                                     data: st.DataObject) -> None:
    pieces = data.draw(splits(raw), label="pieces")
    received, closed = exchange(server_port, pieces)
    responses, rest = split_responses(received)
    # After our half-close the server must finish and close; leftovers must not be
    # a response cut short.
    assert closed, f"no close within the timeout; got {received[:200]!r}"
    assert rest == b"", f"truncated response: {rest[:200]!r}"
    for status, _, _ in responses:
        assert 100 <= status <= 599
    canary_answers(server_port)


@WIRE
@given(reqs=pipelined(allow_head=False, allow_expect=False, keep_alive_only=True),
       data=st.data())
def test_wire_any_split_gives_the_same_responses(server_port: int,
                                                 reqs: list[GeneratedRequest],
                                                 data: st.DataObject) -> None:
    stream = b"".join(r.raw for r in reqs)
    pieces = data.draw(splits(stream), label="pieces")
    answers = []
    for sending in ([stream], pieces):
        received, _ = exchange(server_port, sending, expect=len(reqs))
        responses, rest = split_responses(received)
        assert len(responses) == len(reqs) and rest == b"", received[:300]
        answers.append([(status, {k: v for k, v in headers.items() if k not in VARYING}, body)
                        for status, headers, body in responses])
    assert answers[0] == answers[1]

