"""Response serialisation: exact bytes, HEAD, bodiless statuses, dates."""

from __future__ import annotations

import email.utils

import h11
import orjson

from rover_mt.protocol.response import (
    CONTINUE_100,
    encode_error,
    encode_response,
    http_date,
    reason_phrase,
)

DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"


def test_encode_response_exact_bytes() -> None:
    out = encode_response(
        201, [(b"Content-Type", b"text/plain")], b"made", keep_alive=True, head_only=False, date=DATE
    )
    assert out == (
        b"HTTP/1.1 201 Created\r\nDate: " + DATE + b"\r\nContent-Length: 4\r\n"
        b"Content-Type: text/plain\r\n\r\nmade"
    )


def test_close_and_head_only() -> None:
    out = encode_response(200, [], b"hello", keep_alive=False, head_only=True, date=DATE)
    assert out.endswith(b"Content-Length: 5\r\nConnection: close\r\n\r\n")


def test_bodiless_statuses_drop_body_and_length() -> None:
    for status in (101, 204, 304):
        out = encode_response(status, [], b"ignored", keep_alive=True, head_only=False, date=DATE)
        assert b"Content-Length" not in out and out.endswith(b"\r\n\r\n")


def test_responses_parse_with_h11() -> None:
    # An independent client-side parser must read what we write.
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(encode_error(431, "too big", date=DATE))
    response = conn.next_event()
    assert response.status_code == 431
    assert dict(response.headers)[b"connection"] == b"close"
    data = conn.next_event()
    assert orjson.loads(data.data) == {"error": "too big"}


def test_http_date_matches_stdlib() -> None:
    for ts in (0.0, 784111777.0, 1_700_000_000.9, 4_102_444_800.0):
        assert http_date(ts) == email.utils.formatdate(ts, usegmt=True).encode()


def test_reasons_and_continue() -> None:
    assert reason_phrase(404) == "Not Found"
    assert reason_phrase(418) == "I'm a Teapot"
    assert reason_phrase(599) == "Unknown"
    assert CONTINUE_100 == b"HTTP/1.1 100 Continue\r\n\r\n"
