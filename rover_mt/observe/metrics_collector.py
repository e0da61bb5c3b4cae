"""A prometheus-client collector over the sharded metrics, for registry users.

:meth:`Metrics.render` does not go through this (it uses the faster
:mod:`metrics_text`), but anything that scrapes ``Metrics.registry`` directly,
such as ``prometheus_client.generate_latest`` or ``make_wsgi_app``, gets the same
families from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from rover_mt.observe.labels import DURATION_BUCKETS
from rover_mt.observe.metrics_families import Family
from rover_mt.observe.metrics_shard import SUM_SLOT

_LE_VALUES = tuple(repr(float(b)) for b in DURATION_BUCKETS) + ("+Inf",)


def to_prometheus(family: Family) -> Metric:
    """Convert one :class:`Family` into the matching prometheus-client family."""
    labels = list(family.labelnames)
    if family.kind == "histogram":
        metric = HistogramMetricFamily(family.name, family.help, labels=labels)
        for values, hist in family.samples:
            cumulative = 0
            buckets = []
            for le, count in zip(_LE_VALUES, hist):  # type: ignore[call-overload]
                cumulative += count
                buckets.append((le, cumulative))
            metric.add_metric(list(values), buckets, hist[SUM_SLOT])  # type: ignore[index]
        return metric
    cls = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
    metric = cls(family.name, family.help, labels=labels)
    for values, value in family.samples:
        metric.add_metric(list(values), value)
    return metric


class ShardedCollector(Collector):
    """Yields the families that ``families_fn`` builds at each collection."""

    def __init__(self, families_fn: Callable[[], list[Family]]) -> None:
        self._families_fn = families_fn

    def describe(self) -> list[Metric]:
        # Names are dynamic (callbacks are added after registration), and an
        # empty describe stops the registry from collecting at register time.
        return []

    def collect(self) -> Iterator[Metric]:
        """Merge the shards now and yield every family."""
        for family in self._families_fn():
            yield to_prometheus(family)
