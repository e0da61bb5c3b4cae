"""Micro-benchmark of the observability hot paths (rover_mt.observe).

    python bench/bench_metrics.py [--observations 1000000] [--repeats 3]

Reports, best of ``--repeats`` runs:

* ns per ``MetricsShard.request`` with 1 thread and with 8 threads sharing the
  same total (each thread records into its own shard; with the GIL the threads
  take turns, so the per-observation cost should be the same, not 8x worse);
* ns per ``queue_wait`` and ``inc``;
* scrape time of ``Metrics.render()`` for 200 routes recorded by 8 shards, and of
  ``prometheus_client.generate_latest`` over the same registry, for comparison;
* ns per ``Logger.access`` call at sample rates 1 and 0.1 (to /dev/null).

Loop overhead (the ``for`` and the argument tuple) is included in the figures,
since a caller pays it too.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prometheus_client import generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from rover_mt.observe import Logger, Metrics  # noqa: E402

ROUTES = [f"/r{index}/{{id}}" for index in range(16)]


def record_requests(metrics: Metrics, count: int, start: threading.Barrier | None = None) -> None:
    """Record ``count`` requests into a fresh shard of ``metrics``."""
    request = metrics.shard().request
    routes = ROUTES
    if start is not None:
        start.wait()
    for index in range(count):
        request("GET", routes[index & 15], 200, 0.0042)


def per_observation_ns(threads: int, total: int) -> float:
    """Wall-clock ns per observation with ``threads`` threads recording ``total`` in all."""
    metrics = Metrics(process_metrics=False)
    each = total // threads
    start = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=record_requests, args=(metrics, each, start)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    recorded = sum(
        s.value for f in text_string_to_metric_families(metrics.render()[0].decode())
        for s in f.samples if s.name == "rover_http_requests_total"
    )
    assert recorded == each * threads, f"lost observations: {recorded} != {each * threads}"
    return elapsed / (each * threads) * 1e9


def loop_ns(call: Callable[[int], None], count: int) -> float:
    """ns per call of ``call(index)`` over ``count`` calls."""
    began = time.perf_counter()
    for index in range(count):
        call(index)
    return (time.perf_counter() - began) / count * 1e9


def scrape_ms(repeats: int) -> tuple[float, float, int]:
    """(render ms, generate_latest ms, bytes) for 200 routes over 8 shards."""
    metrics = Metrics()
    metrics.add_gauge("queue_depth", "Queued requests.", lambda: 3)
    metrics.add_gauge("lua_memory_bytes", "Lua memory.", lambda: {str(n): 1e6 for n in range(8)}, ["worker"])
    shards = [metrics.shard() for _ in range(8)]
    for index in range(200):
        for number, shard in enumerate(shards):
            shard.request("GET", f"/route{index}/{{id}}", 200 if number else 404, 0.001 * number)
    render_times, reference_times = [], []
    body = b""
    for _ in range(repeats * 5):
        began = time.perf_counter()
        body, _ = metrics.render()
        render_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        generate_latest(metrics.registry)
        reference_times.append(time.perf_counter() - began)
    list(text_string_to_metric_families(body.decode()))  # must parse
    return min(render_times) * 1e3, min(reference_times) * 1e3, len(body)


def logger_ns(sample_rate: float, count: int) -> float:
    """ns per access() call into a logger writing to /dev/null."""
    with open(os.devnull, "w") as sink:
        logger = Logger(stream=sink, sample_rate=sample_rate, buffer_size=count + 1)
        cost = loop_ns(
            lambda index: logger.access(
                method="GET", path="/users/7", route="/users/{id}", status=200, duration_s=0.0012,
                bytes_sent=123, request_id="abc123", client_ip="127.0.0.1",
            ),
            count,
        )
        logger.close(timeout=30)
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    total, repeats = args.observations, args.repeats

    one = min(per_observation_ns(1, total) for _ in range(repeats))
    eight = min(per_observation_ns(8, total) for _ in range(repeats))
    print(f"request(), 1 thread : {one:7.0f} ns/observation")
    print(f"request(), 8 threads: {eight:7.0f} ns/observation  (ratio {eight / one:.2f})")

    shard = Metrics(process_metrics=False).shard()
    print(f"queue_wait()        : {min(loop_ns(lambda i: shard.queue_wait(0.0007), total // 4) for _ in range(repeats)):7.0f} ns")
    print(f"inc()               : {min(loop_ns(lambda i: shard.inc('dispatched_total'), total // 4) for _ in range(repeats)):7.0f} ns")

    fast, reference, size = scrape_ms(repeats)
    print(f"render(), 200 routes x 8 shards: {fast:6.2f} ms ({size} bytes); "
          f"generate_latest(registry): {reference:6.2f} ms")

    log_count = max(1000, total // 10)
    print(f"Logger.access, rate 1  : {min(logger_ns(1.0, log_count) for _ in range(repeats)):7.0f} ns/call")
    print(f"Logger.access, rate 0.1: {min(logger_ns(0.1, log_count) for _ in range(repeats)):7.0f} ns/call")


if __name__ == "__main__":
    main()
