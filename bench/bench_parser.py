"""Per-request cost of the HTTP parser backends on the I/O thread.

Run: python bench/bench_parser.py [--runs 7] [--requests 20000] [--backend h11]

One parser per backend stands for one keep-alive connection: each request is fed whole,
then ``start_next()`` is called as the network layer does after the response went out,
so the figure covers ``feed`` + ``start_next`` with every event built.  The printed
number is µs per request, the median of ``--runs`` runs (the machine is shared and noisy,
so compare medians of repeated runs, never single runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rover_mt.protocol import Limits, MessageEnd, Parser, available_backends, make_parser  # noqa: E402

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


def _one_at_a_time(data: bytes) -> Callable[[Parser, int], None]:
    """A loop feeding ``data`` (one request) ``n`` times on one connection."""

    def run(parser: Parser, n: int) -> None:
        feed = parser.feed
        start_next = parser.start_next
        for _ in range(n):
            events = feed(data)
            assert type(events[-1]) is MessageEnd
            start_next()

    return run


def _pipelined(data: bytes, depth: int) -> Callable[[Parser, int], None]:
    """A loop feeding ``depth`` requests in one write, then draining them with start_next."""
    batch = data * depth

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
    "small GET": _one_at_a_time(SMALL_GET),
    "GET, 10 headers": _one_at_a_time(GET_10_HEADERS),
    "small POST": _one_at_a_time(SMALL_POST),
    f"pipelined x{PIPELINE_DEPTH}": _pipelined(SMALL_GET, PIPELINE_DEPTH),
}


def measure(backend: str, workload: Callable[[Parser, int], None], requests: int, runs: int) -> float:
    """Median µs per request over ``runs`` runs of ``requests`` requests each."""
    samples = []
    workload(make_parser(backend, Limits()), min(requests, 1000))  # warm caches
    for _ in range(runs):
        parser = make_parser(backend, Limits())
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
    args = cli.parse_args()
    backends = args.backend or available_backends()
    print(f"µs per request, median of {args.runs} runs of {args.requests} requests")
    print(f"{'workload':<18}" + "".join(f"{b:>12}" for b in backends))
    for name, workload in WORKLOADS.items():
        cells = [measure(b, workload, args.requests, args.runs) for b in backends]
        print(f"{name:<18}" + "".join(f"{c:>12.2f}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
