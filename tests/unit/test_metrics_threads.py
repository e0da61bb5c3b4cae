"""Many threads recording at once while scrapes run: totals exact, never decreasing."""

from __future__ import annotations

import threading

from prometheus_client.parser import text_string_to_metric_families

from rover_mt.observe import Metrics

THREADS = 8
TOTAL = 1_000_000
ROUTES = ["/", "/users/{id}", "/items", "/items/{id}/parts"]


def totals(metrics: Metrics) -> tuple[float, float, float]:
    """(sum of requests_total, sum of histogram counts, dispatched_total) from a scrape."""
    requests = observed = dispatched = 0.0
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for sample in family.samples:
            if sample.name == "rover_http_requests_total":
                requests += sample.value
            elif sample.name == "rover_http_request_duration_seconds_count":
                observed += sample.value
            elif sample.name == "rover_dispatched_total":
                dispatched += sample.value
    return requests, observed, dispatched


def test_eight_threads_one_million_observations_exact_totals():
    metrics = Metrics(process_metrics=False)
    per_thread = TOTAL // THREADS
    start = threading.Barrier(THREADS + 1, timeout=30)
    done = threading.Event()
    seen: list[tuple[float, float, float]] = []

    def record(thread_index: int) -> None:
        shard = metrics.shard()
        request = shard.request
        start.wait()
        for i in range(per_thread):
            request("GET", ROUTES[i & 3], 200 + (i & 1), 0.001 * (i & 7))
        for _ in range(1000):
            shard.inc("dispatched_total")

    def scrape_while_recording() -> None:
        start.wait()
        while not done.is_set():
            seen.append(totals(metrics))

    workers = [threading.Thread(target=record, args=(n,)) for n in range(THREADS)]
    scraper = threading.Thread(target=scrape_while_recording)
    for thread in (*workers, scraper):
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
        assert not thread.is_alive()
    done.set()
    scraper.join(timeout=30)
    assert not scraper.is_alive()

    assert totals(metrics) == (TOTAL, TOTAL, THREADS * 1000)
    # Scrapes during recording saw only growing numbers.
    for earlier, later in zip(seen, seen[1:]):
        assert all(a <= b for a, b in zip(earlier, later))
