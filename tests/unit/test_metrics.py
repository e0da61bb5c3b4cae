"""Recording, labels and declarations of rover_mt.observe.Metrics (single thread)."""

from __future__ import annotations

import math
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rover_mt.observe import OTHER_METHOD, OVERFLOW_ROUTE, UNMATCHED_ROUTE, Metrics


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse render() output into {(sample name, sorted labels): value}."""
    body, _ = metrics.render()
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_total(samples, method, route, status) -> float:
    key = ("rover_http_requests_total", (("method", method), ("route", route), ("status", str(status))))
    return samples.get(key, 0.0)


def bucket(samples, method, route, le, name="rover_http_request_duration_seconds") -> float:
    labels = tuple(sorted({"method": method, "route": route, "le": le}.items()))
    return samples[(f"{name}_bucket", labels)]


def test_request_counts_by_method_route_status():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    shard.request("GET", "/users/{id}", 200, 0.01)
    shard.request("GET", "/users/{id}", 200, 0.02)
    shard.request("GET", "/users/{id}", 404, 0.01)
    shard.request("POST", "/users", 201, 0.01)
    samples = scrape(metrics)
    assert requests_total(samples, "GET", "/users/{id}", 200) == 2
    assert requests_total(samples, "GET", "/users/{id}", 404) == 1
    assert requests_total(samples, "POST", "/users", 201) == 1
    count_key = ("rover_http_request_duration_seconds_count", (("method", "GET"), ("route", "/users/{id}")))
    sum_key = ("rover_http_request_duration_seconds_sum", (("method", "GET"), ("route", "/users/{id}")))
    assert samples[count_key] == 3
    assert samples[sum_key] == pytest.approx(0.04)


def test_bucket_bounds_are_inclusive_and_cumulative():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    shard.request("GET", "/", 200, 0.005)  # exactly on a bound: counts in le="0.005"
    shard.request("GET", "/", 200, 0.0051)
    shard.request("GET", "/", 200, 99.0)  # beyond the last bound: only +Inf
    samples = scrape(metrics)
    assert bucket(samples, "GET", "/", "0.0025") == 0
    assert bucket(samples, "GET", "/", "0.005") == 1
    assert bucket(samples, "GET", "/", "0.01") == 2
    assert bucket(samples, "GET", "/", "10.0") == 2
    assert bucket(samples, "GET", "/", "+Inf") == 3


def test_nan_and_negative_durations_count_as_zero():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    shard.request("GET", "/", 200, math.nan)
    shard.request("GET", "/", 200, -1.0)
    shard.queue_wait(math.nan)
    samples = scrape(metrics)
    assert bucket(samples, "GET", "/", "0.0005") == 2
    assert samples[("rover_http_request_duration_seconds_sum", (("method", "GET"), ("route", "/")))] == 0
    assert samples[("rover_queue_wait_seconds_sum", ())] == 0
    assert samples[("rover_queue_wait_seconds_count", ())] == 1


def test_unknown_methods_share_one_label():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    for method in ("PURGE", "BREW", "X-WEIRD", "get"):
        shard.request(method, "/", 405, 0.001)
    shard.request("GET", "/", 200, 0.001)
    samples = scrape(metrics)
    assert requests_total(samples, OTHER_METHOD, "/", 405) == 4
    assert requests_total(samples, "GET", "/", 200) == 1
    methods = {dict(labels).get("method") for name, labels in samples if name == "rover_http_requests_total"}
    assert methods == {OTHER_METHOD, "GET"}


def test_unmatched_requests_share_one_route_label():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    shard.request("GET", None, 404, 0.001)
    shard.request("GET", UNMATCHED_ROUTE, 404, 0.001)
    samples = scrape(metrics)
    assert requests_total(samples, "GET", UNMATCHED_ROUTE, 404) == 2


def test_route_cardinality_is_capped_across_all_shards():
    metrics = Metrics(process_metrics=False, max_routes=3)
    first, second = metrics.shard(), metrics.shard()
    first.request("GET", "/a", 200, 0.001)
    first.request("GET", "/b", 200, 0.001)
    second.request("GET", "/c", 200, 0.001)
    second.request("GET", "/d", 200, 0.001)  # fourth distinct route: over the cap
    first.request("GET", "/e", 200, 0.001)
    second.request("GET", "/a", 200, 0.001)  # admitted earlier by another shard
    first.request("GET", None, 404, 0.001)  # unmatched never counts against the cap
    samples = scrape(metrics)
    routes = {dict(labels)["route"] for name, labels in samples if name == "rover_http_requests_total"}
    assert routes == {"/a", "/b", "/c", OVERFLOW_ROUTE, UNMATCHED_ROUTE}
    assert requests_total(samples, "GET", OVERFLOW_ROUTE, 200) == 2
    assert requests_total(samples, "GET", "/a", 200) == 2


def test_default_counters_are_exported_at_zero_and_increment():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    samples = scrape(metrics)
    for name in ("shed", "worker_restarts", "handler_timeouts", "dispatched", "completed"):
        assert samples[(f"rover_{name}_total", ())] == 0
    shard.inc("shed_total")
    shard.inc("shed_total", 2)
    metrics.shard().inc("shed_total")
    assert scrape(metrics)[("rover_shed_total", ())] == 4


def test_undeclared_counter_raises_and_declared_later_works_in_old_shards():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    with pytest.raises(KeyError, match="bogus_total"):
        shard.inc("bogus_total")
    metrics.add_counter("client_disconnects_total", "Clients gone before the response.")
    shard.inc("client_disconnects_total")
    shard.inc("client_disconnects_total")
    assert scrape(metrics)[("rover_client_disconnects_total", ())] == 2


@pytest.mark.parametrize(
    "name",
    ["http_requests_total", "shed_total", "queue_wait_seconds", "bad name", "queue_depth"],
)
def test_name_collisions_and_bad_names_are_refused(name):
    metrics = Metrics(process_metrics=False)
    metrics.add_gauge("queue_depth", "Queued requests.", lambda: 0)
    with pytest.raises(ValueError):
        metrics.add_gauge(name, "x", lambda: 0)


def test_counter_names_must_end_in_total():
    metrics = Metrics(process_metrics=False)
    with pytest.raises(ValueError, match="_total"):
        metrics.add_counter("restarts", "x")
    with pytest.raises(ValueError, match="_total"):
        metrics.add_counter_callback("dropped_log_records", "x", lambda: 0)


def test_gauges_are_evaluated_at_scrape_time():
    metrics = Metrics(process_metrics=False)
    depth = [3]
    metrics.add_gauge("queue_depth", "Queued requests.", lambda: depth[0])
    metrics.add_gauge(
        "lua_memory_bytes", "Lua memory per worker.", lambda: {("1",): 1024, "2": 2048}, labelnames=["worker"]
    )
    metrics.add_counter_callback("dropped_log_records_total", "Dropped log records.", lambda: 7)
    samples = scrape(metrics)
    assert samples[("rover_queue_depth", ())] == 3
    assert samples[("rover_lua_memory_bytes", (("worker", "1"),))] == 1024
    assert samples[("rover_lua_memory_bytes", (("worker", "2"),))] == 2048
    assert samples[("rover_dropped_log_records_total", ())] == 7
    depth[0] = 5
    assert scrape(metrics)[("rover_queue_depth", ())] == 5


def test_a_failing_gauge_is_left_out_and_counted():
    metrics = Metrics(process_metrics=False)

    def broken() -> float:
        raise RuntimeError("boom")

    metrics.add_gauge("broken", "Always raises.", broken)
    metrics.add_gauge("wrong_arity", "Wrong label count.", lambda: {("a", "b"): 1}, labelnames=["worker"])
    metrics.add_gauge("fine", "Works.", lambda: 1)
    samples = scrape(metrics)
    assert ("rover_broken", ()) not in samples
    assert ("rover_fine", ()) in samples
    assert samples[("rover_metrics_callback_errors_total", ())] == 2
    assert scrape(metrics)[("rover_metrics_callback_errors_total", ())] == 4


def test_two_servers_in_one_process_do_not_collide():
    one, two = Metrics(), Metrics()
    one.add_gauge("queue_depth", "q", lambda: 1)
    two.add_gauge("queue_depth", "q", lambda: 2)  # same name, other registry: fine
    one.shard().request("GET", "/", 200, 0.001)
    assert scrape(one)[("rover_queue_depth", ())] == 1
    assert scrape(two)[("rover_queue_depth", ())] == 2
    assert requests_total(scrape(two), "GET", "/", 200) == 0
    assert one.registry is not two.registry


def test_retired_shards_keep_their_counts():
    metrics = Metrics(process_metrics=False)
    shard = metrics.shard()
    shard.request("GET", "/", 200, 0.001)
    shard.inc("worker_restarts_total")
    shard.queue_wait(0.002)
    metrics.retire(shard)
    metrics.retire(shard)  # idempotent: not folded twice
    metrics.shard().request("GET", "/", 200, 0.001)
    samples = scrape(metrics)
    assert requests_total(samples, "GET", "/", 200) == 2
    assert samples[("rover_worker_restarts_total", ())] == 1
    assert samples[("rover_queue_wait_seconds_count", ())] == 1


def test_thread_shard_is_per_thread_and_per_server():
    one, two = Metrics(process_metrics=False), Metrics(process_metrics=False)
    assert one.thread_shard() is one.thread_shard()
    assert one.thread_shard() is not two.thread_shard()
    other: list = []
    thread = threading.Thread(target=lambda: other.append(one.thread_shard()))
    thread.start()
    thread.join(timeout=5)
    assert other and other[0] is not one.thread_shard()


@pytest.mark.parametrize("bad", [{"namespace": "9bad"}, {"namespace": "a-b"}, {"max_routes": 0}])
def test_bad_constructor_arguments(bad):
    with pytest.raises(ValueError):
        Metrics(**bad)
