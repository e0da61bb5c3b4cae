"""Hypothesis at the wire: arbitrary and mutated request bytes, sent in arbitrary
pieces, get well-formed responses and/or a close within a deadline, and the I/O
thread never raises (asyncio's exception handler would see it) nor stops serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rover_mt import Server
from rover_mt.protocol import available_backends
from tests.corpus.loader import load_corpus
from tests.helpers import write_app
from tests.wire.test_edge_support import CATCH_ALL_APP, Canary, exchange

SEEDS = [c.data for c in load_corpus() if len(c.data) < 600]
DEADLINE = 4.0  # header_timeout below is 1 s; anything open past this is a failure
# The catch-all app, answering 204 (no body) instead of "ok": a HEAD request's answer
# carries the Content-Length of the body it leaves out, and in arbitrary bytes the
# test cannot always tell which request was a HEAD (a corpus seed is one).
# The canary's own request (GET /canary...) still gets its "ok".
BODILESS_APP = CATCH_ALL_APP.replace(
    'local function ok(ctx) return "ok" end',
    'local function ok(ctx) if ctx.path:sub(1, 7) == "/canary" then return "ok" end end',
).replace('return "slow"', "return nil")
assert BODILESS_APP.count("return nil") == 1 and "/canary" in BODILESS_APP


@pytest.fixture(scope="module", params=available_backends())
def fuzz_server(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[Any]]]:
    app = write_app(Path(tmp_path_factory.mktemp("fuzz")), BODILESS_APP)
    with Server(app, port=0, workers=2, docs=False, log_level="nope", http=request.param,
                header_timeout=1.0, body_timeout=1.0, keepalive_timeout=1.0) as srv:
        errors: list[Any] = []
        loop = srv.engine.loop
        assert loop is not None
        srv.engine.call_in_loop(lambda: loop.set_exception_handler(lambda _l, ctx: errors.append(ctx)))
        yield srv, errors


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"\r\n", b"\r", b"\n", b"\x00", b" ", b":", b"0\r\n\r\n",
                                              b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n"]))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        else:
            data[i:i] = data[i:i + draw(st.integers(1, 40))]
    return bytes(data)


request_bytes = st.one_of(mutated(), st.binary(max_size=300))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a] or [b""]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=request_bytes, cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_any_bytes_get_responses_or_a_close(fuzz_server: tuple[Server, list[Any]], data: bytes,
                                           cuts: list[int]) -> None:
    srv, errors = fuzz_server
    # Half-close after the bytes: complete requests are answered, then the server
    # closes, so no example waits for a keep-alive timeout.
    ex = exchange(srv.port, split(data, cuts), timeout=DEADLINE, half_close=True,
                  head_methods=[data.startswith(b"HEAD ")])
    # exchange() reads until the server closes; parse_responses raised if anything
    # was not a well-formed response. Nothing may be left half-sent.
    assert ex.closed, f"still open after {DEADLINE}s: {[r.status for r in ex.responses]}"
    assert not ex.rest, ex.rest[:200]
    for r in ex.final:
        assert 200 <= r.status < 600
        assert r.status < 500 or r.status in (501, 505), r
    assert not errors, errors
    Canary(srv.port).check()
