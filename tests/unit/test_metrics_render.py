"""The /metrics output: parses, escapes, matches the registry, includes process metrics."""

from __future__ import annotations

import os

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rover_mt.observe import Metrics


def rover_samples(text: str) -> dict:
    """Samples of the rover_* families (process ones change between two scrapes)."""
    out = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("rover_"):
            continue
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_content_type_is_prometheus_text():
    _, content_type = Metrics().render()
    assert content_type.startswith("text/plain; version=")


def test_fast_render_equals_generate_latest_on_the_registry():
    metrics = Metrics()
    shard = metrics.shard()
    for index in range(50):
        shard.request("GET", f"/items/{index}/{{id}}", 200 + index % 3, index / 100)
    shard.queue_wait(0.3)
    shard.inc("handler_timeouts_total")
    metrics.add_gauge("lua_memory_bytes", "Lua memory.", lambda: {"1": 5.5, "2": 1e20}, labelnames=["worker"])
    fast = rover_samples(metrics.render()[0].decode())
    reference = rover_samples(generate_latest(metrics.registry).decode())
    assert len(fast) > 50 * 17
    assert fast == reference


def test_awkward_route_templates_are_escaped_and_parse_back():
    metrics = Metrics(process_metrics=False)
    route = '/a"b\\c\nd/{id}'
    metrics.shard().request("GET", route, 200, 0.001)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render()[0].decode())}
    routes = {s.labels["route"] for s in families["rover_http_requests"].samples}
    assert routes == {route}


def test_two_hundred_routes_render_and_parse():
    metrics = Metrics()
    shards = [metrics.shard() for _ in range(8)]
    for index in range(200):
        for shard in shards:
            shard.request("GET", f"/r{index}/{{id}}", 200, 0.01)
    body, _ = metrics.render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    counts = [s for s in families["rover_http_requests"].samples if s.name == "rover_http_requests_total"]
    assert len(counts) == 200
    assert all(sample.value == 8 for sample in counts)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="process metrics read /proc")
def test_process_metrics_are_included():
    body, _ = Metrics().render()
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "process_open_fds"} <= names


def test_extra_collectors_appear_in_render():
    from prometheus_client.core import GaugeMetricFamily

    class Extra:
        def collect(self):
            yield GaugeMetricFamily("rover_extra_thing", "An extra collector.", value=42)

    metrics = Metrics(process_metrics=False)
    metrics.register_collector(Extra())
    assert rover_samples(metrics.render()[0].decode())[("rover_extra_thing", ())] == 42
