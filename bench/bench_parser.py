"""Per-request cost of the HTTP parser backends on the I/O thread.

Run: python bench/bench_parser.py [--runs 7] [--requests 20000] [--backend h11] [--detailed]

One parser per backend stands for one keep-alive connection: each request is fed whole,
then ``start_next()`` is called as the network layer does after the response went out,
so the figure covers ``feed`` + ``start_next`` with every event built.  The printed
number is µs per request, the median of ``--runs`` runs (the machine is shared and noisy,
so compare medians of repeated runs, never single runs).  Consecutive requests differ in
their target (same fields), except in the "repeat" rows (identical heads) and the "new
host" rows (different fields: every head parsed from scratch).  ``--detailed`` adds columns with
the plain-head fast path switched off: what a head outside the common grammar costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from itertools import cycle, islice
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rover_mt.protocol import Limits, MessageEnd, Parser, available_backends, make_parser  # noqa: E402
from rover_mt.protocol.core import FramedParser  # noqa: E402
from rover_mt.protocol.h11_backend import H11Decoder  # noqa: E402

SMALL_GET = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:4242\r\n\r\n"

GET_10_HEADERS = (
    b"GET /users/42?fields=name,email HTTP/1.1\r\n"
    b"Host: api.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: application/json, text/plain, */*\r\n"
    b"Accept-Language: en-GB,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"Referer: https://app.example.com/users\r\n"
    b"Cookie: session=3f9a2c1b7e; theme=dark\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Request-Id: 5b0e4c2a-1d7f-4e8b-9a3c-6f2d1e0b9c8a\r\n"
    b"\r\n"
)

_POST_BODY = b'{"name":"Ada","email":"ada@example.com","age":36}'
SMALL_POST = (
    b"POST /users HTTP/1.1\r\n"
    b"Host: 127.0.0.1:4242\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(_POST_BODY)).encode() + b"\r\n"
    b"\r\n" + _POST_BODY
)

PIPELINE_DEPTH = 10


def varied(request: bytes) -> list[bytes]:
    """Two copies of ``request`` with different targets, to be sent alternately.

    The parser remembers the previous head: a byte-identical one is answered at once,
    one with the same fields skips splitting them.  Alternating targets is what a
    keep-alive client asking for different paths looks like.
    """
    line_end = request.index(b" HTTP/1.")
    return [request[:line_end] + b"/" + tag + request[line_end:] for tag in (b"a", b"b")]


def new_fields(request: bytes) -> list[bytes]:
    """Two copies of ``request`` whose Host values differ: nothing can be remembered."""
    return [request.replace(b"Host: ", b"Host: " + tag) for tag in (b"a.", b"b.")]


def _one_at_a_time(requests: list[bytes]) -> Callable[[Parser, int], None]:
    """A loop feeding ``n`` requests, one at a time, cycling through ``requests``."""

    def run(parser: Parser, n: int) -> None:
        feed = parser.feed
        start_next = parser.start_next
        for data in islice(cycle(requests), n):
            events = feed(data)
            assert type(events[-1]) is MessageEnd
            start_next()

    return run


def _pipelined(requests: list[bytes], depth: int) -> Callable[[Parser, int], None]:
    """A loop feeding ``depth`` requests in one write, then draining them with start_next."""
    batch = b"".join(islice(cycle(requests), depth))

    def run(parser: Parser, n: int) -> None:
        feed = parser.feed
        start_next = parser.start_next
        for _ in range(n // depth):
            events = feed(batch)
            for _ in range(depth - 1):
                events = start_next()
            assert type(events[-1]) is MessageEnd
            assert not start_next()

    return run


WORKLOADS: dict[str, Callable[[Parser, int], None]] = {
    "small GET": _one_at_a_time(varied(SMALL_GET)),
    "GET, 10 headers": _one_at_a_time(varied(GET_10_HEADERS)),
    "small POST": _one_at_a_time(varied(SMALL_POST)),
    f"pipelined x{PIPELINE_DEPTH}": _pipelined(varied(SMALL_GET), PIPELINE_DEPTH),
    "small GET, repeat": _one_at_a_time([SMALL_GET]),  # identical heads
    "small GET, new host": _one_at_a_time(new_fields(SMALL_GET)),  # a full parse each time
    "10 headers, new host": _one_at_a_time(new_fields(GET_10_HEADERS)),
}


def new_parser(column: str) -> Parser:
    """A parser for a column name: a backend, or "<backend> detailed" (no fast path)."""
    backend, _, mode = column.partition(" ")
    if not mode:
        return make_parser(backend, Limits())
    if backend == "httptools":
        from rover_mt.protocol.httptools_backend import HttptoolsDecoder

        return FramedParser(HttptoolsDecoder(Limits()), Limits(), fast_path=False)
    return FramedParser(H11Decoder(Limits()), Limits(), fast_path=False)


def measure(
    column: str, workload: Callable[[Parser, int], None], requests: int, runs: int
) -> float:
    """Median µs per request over ``runs`` runs of ``requests`` requests each."""
    samples = []
    workload(new_parser(column), min(requests, 1000))  # warm caches
    for _ in range(runs):
        parser = new_parser(column)
        started = time.perf_counter_ns()
        workload(parser, requests)
        samples.append((time.perf_counter_ns() - started) / requests / 1000)
    return statistics.median(samples)


def main() -> None:
    """Print a table of µs per request, backends as columns."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=7, help="runs per figure; the median is printed")
    cli.add_argument("--requests", type=int, default=20000, help="requests per run")
    cli.add_argument("--backend", action="append", choices=available_backends(),
                     help="backend to measure (repeatable; default: all available)")
    cli.add_argument("--detailed", action="store_true",
                     help="also measure each backend with the plain-head fast path off")
    args = cli.parse_args()
    columns = list(args.backend or available_backends())
    if args.detailed:
        columns += [f"{b} detailed" for b in columns]
    print(f"µs per request, median of {args.runs} runs of {args.requests} requests")
    print(f"{'workload':<20}" + "".join(f"{c:>20}" for c in columns))
    for name, workload in WORKLOADS.items():
        cells = [measure(c, workload, args.requests, args.runs) for c in columns]
        print(f"{name:<20}" + "".join(f"{c:>20.2f}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
