"""The I/O thread's per-request work, driven in-process without sockets.

    python bench/bench_io_path.py [--path /hello] [--app bench/apps/rover_app.lua]
                                  [--connections 50] [--rounds 400] [--repeats 7] [--profile]

A real ``Server`` (engine, router, parser, Lua runtimes) is started; its handler
is warmed over real sockets until it runs on the I/O thread. Then, on the loop
thread, ``--connections`` real ``HttpConnection`` objects with transports that
only count what is written each get one request per round, and the requests of
a round run as one inline batch, as one poll's worth does in the server.

Reported: microseconds of the loop thread's CPU per request (``time.thread_time``),
best and median of ``--repeats``. What is left out is what the kernel and the
selector loop add per request (recv, send, epoll; about 5 µs on this machine):
the figure is the part of rover-mt's own Python and Lua.

Why: a change of 0.1-0.3 µs per request does not show in a wrk run on a
2-core machine, whose spread is 5-10%. Here the spread is about 2-5%, so two
versions can be compared in alternating runs (``PYTHONPATH`` picks the tree).
``--profile`` prints cProfile's top functions instead (it slows everything
about three times, and small functions most).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import socket
import statistics
import sys
import time
from typing import Any

try:  # the installed tree, or the one PYTHONPATH names (to compare two trees)
    import rover_mt
except ImportError:  # not installed: this checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import rover_mt

from answers import read_answer
from rover_mt.net.connection import HttpConnection
from rover_mt.server import Server

HERE = os.path.dirname(os.path.abspath(__file__))
# Rounds of one request per connection to warm with: well past the inline
# warm-up (worker/inline.py WARMUP) even if each round's requests run as one batch.
WARMUP_ROUNDS = 100
INLINE_HANDLER_US = 1000


class CountingTransport:
    """What HttpConnection needs of a transport; writes are only counted."""

    def __init__(self) -> None:
        self.writes = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        """Limits, pausing, closing: nothing to do without a socket."""

    set_write_buffer_limits = pause_reading = resume_reading = write_eof = close = abort = _nothing


def warm_up(port: int, request: bytes, connections: int) -> None:
    """Send the request over real sockets until its handler runs inline.

    One request on each of `connections` sockets per round, as the measured
    rounds do: on a slow machine one request at a time can cost more than
    ``inline_handler_us`` (a Lua call's fixed cost carried by one request),
    where a round's worth, run as one batch, is under it."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(connections)]
    try:
        for _ in range(WARMUP_ROUNDS):
            for sock in socks:
                sock.sendall(request)
            for sock in socks:
                read_answer(sock)
    finally:
        for sock in socks:
            sock.close()


def drive(server: Server, request: bytes, connections: int, rounds: int) -> tuple[float, int]:
    """On the loop thread: `rounds` rounds of one request per connection, each
    round's requests run as one inline batch. Returns (CPU µs per request,
    answers written)."""
    engine = server.engine
    conns = []
    for _ in range(connections):
        conn = HttpConnection(server.listener)
        transport = CountingTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conns.append((conn, transport))
    run_pending = engine._run_inline_pending
    t0 = time.thread_time()
    for _ in range(rounds):
        for conn, _transport in conns:
            conn.data_received(request)
        run_pending()
    spent = time.thread_time() - t0
    answers = sum(t.writes for _, t in conns)
    for conn, _transport in conns:
        conn.connection_lost(None)
    return spent / (rounds * connections) * 1e6, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/hello")
    parser.add_argument("--app", default=os.path.join(HERE, "apps", "rover_app.lua"))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    request = f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".encode()
    # The default inline_handler_us (15) is a policy for serving: on a slow machine
    # (a 2.2 GHz EPYC) or under cProfile a handler can average above it, go back to
    # the workers, and leave nothing to measure here. What is measured is the
    # inline path itself, so any handler that is not slow may take it.
    with Server(args.app, port=0, workers=2, log_level="warn", access_log=False,
                inline_handler_us=INLINE_HANDLER_US) as server:
        warm_up(server.port, request, args.connections)
        if not server.engine.call_in_loop(lambda: server.engine.inline is not None, timeout=10):
            print("this app does not run handlers on the I/O thread", file=sys.stderr)
            return 1
        expected = args.connections * args.rounds
        if args.profile:
            profile = cProfile.Profile()

            def profiled() -> tuple[float, int]:
                profile.enable()
                try:
                    return drive(server, request, args.connections, args.rounds)
                finally:
                    profile.disable()

            server.engine.call_in_loop(profiled, timeout=300)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
            return 0
        server.engine.call_in_loop(lambda: drive(server, request, args.connections, 50),
                                   timeout=300)
        runs = []
        for _ in range(args.repeats):
            us, answers = server.engine.call_in_loop(
                lambda: drive(server, request, args.connections, args.rounds), timeout=300)
            if answers != expected:
                print(f"{answers} answers written for {expected} requests: the handler did "
                      "not run inline throughout", file=sys.stderr)
                return 1
            runs.append(us)
    tree = os.path.dirname(os.path.dirname(os.path.abspath(rover_mt.__file__)))
    print(f"{args.path}: {min(runs):.2f} µs per request (best), {statistics.median(runs):.2f} "
          f"(median of {len(runs)}); {args.connections} connections x {args.rounds} rounds; "
          f"rover_mt from {tree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
