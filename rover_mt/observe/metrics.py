"""Per-server metrics: sharded recording, merged at scrape time (SPEC section 15).

Typical wiring::

    metrics = Metrics()                       # one per Server, owns its registry
    shard = metrics.shard()                   # in each worker / the I/O thread, once
    shard.request("GET", "/users/{id}", 200, 0.0042)
    metrics.add_gauge("queue_depth", "Requests waiting for a worker.", queue.qsize)
    body, content_type = metrics.render()     # for GET /metrics
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from rover_mt.observe.labels import DEFAULT_COUNTERS, OVERFLOW_ROUTE
from rover_mt.observe.metrics_collector import ShardedCollector
from rover_mt.observe.metrics_families import (
    CallbackMetric,
    CallbackResult,
    Family,
    Kind,
    build_families,
    check_label_names,
    check_metric_name,
)
from rover_mt.observe.metrics_shard import MetricsShard
from rover_mt.observe.metrics_snapshot import Snapshot, fold_shard
from rover_mt.observe.metrics_text import render_text

_NAMESPACE_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_LABEL_CACHE_LIMIT = 50_000


class _ForwardingCollector(Collector):
    """Exposes another registry's collectors through the public registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return []

    def collect(self):  # type: ignore[no-untyped-def]
        yield from self._source.collect()


class Metrics:
    """All metrics of one server: shards, callback gauges and an owned registry.

    Thread safety: :meth:`shard` hands each thread private storage, so recording
    takes no lock. A lock guards only the list of shards, the route vocabulary and
    the callback table; it is taken when a shard is made, when a thread first sees
    a route, when metrics are declared, and at scrape time.
    """

    def __init__(self, *, namespace: str = "rover", max_routes: int = 1000, process_metrics: bool = True) -> None:
        if not _NAMESPACE_RE.match(namespace):
            raise ValueError(f"invalid metrics namespace {namespace!r}")
        if max_routes < 1:
            raise ValueError(f"max_routes must be at least 1, got {max_routes}")
        self.namespace = namespace
        self.max_routes = max_routes
        self._lock = threading.Lock()
        self._shards: list[MetricsShard] = []
        # Totals of retired shards, so their counts survive the shard itself.
        self._retired = Snapshot()
        self._routes: set[str] = set()
        self._counter_help: dict[str, str] = dict(DEFAULT_COUNTERS)
        self._callbacks: dict[str, CallbackMetric] = {}
        self._callback_errors = 0
        self._local = threading.local()
        # Escaped label sets reused across scrapes (bounded like the series).
        self._label_cache: dict = {}
        # Process metrics and extra collectors live in a side registry so that
        # render() can run generate_latest on them alone (see metrics_text).
        self._extra = CollectorRegistry(auto_describe=True)
        if process_metrics:
            ProcessCollector(registry=self._extra)
        #: The registry this server's metrics live in (never the global REGISTRY).
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ShardedCollector(self.families))
        self.registry.register(_ForwardingCollector(self._extra))

    # -- recording side -------------------------------------------------------

    def shard(self) -> MetricsShard:
        """A new shard for the calling thread to record into; keep and reuse it."""
        with self._lock:
            shard = MetricsShard(
                counters=dict.fromkeys(self._counter_help, 0),
                admit_route=self._admit_route,
                counter_known=self._counter_help.__contains__,
            )
            self._shards.append(shard)
        return shard

    def thread_shard(self) -> MetricsShard:
        """The calling thread's shard for this server, made on first use."""
        shard = getattr(self._local, "shard", None)
        if shard is None:
            shard = self._local.shard = self.shard()
        return shard

    def retire(self, shard: MetricsShard) -> None:
        """Fold a shard whose thread has finished into the totals and drop it.

        Call it after the shard's last record (for example when a worker thread is
        replaced), so restarts do not pile up shards. Idempotent.
        """
        with self._lock:
            if shard in self._shards:
                self._shards.remove(shard)
                fold_shard(self._retired, shard)

    def _admit_route(self, route: str) -> str:
        """The label for ``route``: itself while fewer than ``max_routes`` are known."""
        with self._lock:
            if route in self._routes:
                return route
            if len(self._routes) >= self.max_routes:
                return OVERFLOW_ROUTE
            self._routes.add(route)
            return route

    # -- declaring ------------------------------------------------------------

    def add_counter(self, name: str, help: str) -> None:
        """Declare a counter that shards can :meth:`~MetricsShard.inc` by ``name``.

        ``name`` is given without the namespace and must end in ``_total``.
        """
        self._check_new_name(name, "counter")
        with self._lock:
            self._counter_help[name] = help

    def add_gauge(
        self,
        name: str,
        help: str,
        fn: Callable[[], CallbackResult],
        labelnames: Sequence[str] = (),
    ) -> None:
        """Export ``namespace_name`` as a gauge whose value ``fn()`` gives at scrape time.

        ``fn`` returns a number, or with ``labelnames`` a mapping from label-value
        tuples (a plain string for one label) to numbers. It runs on the scraping
        thread, so it must be safe to call from there. If it raises, that gauge is
        left out of the scrape and ``namespace_metrics_callback_errors_total`` grows.
        """
        self._add_callback(name, help, fn, labelnames, "gauge")

    def add_counter_callback(
        self,
        name: str,
        help: str,
        fn: Callable[[], CallbackResult],
        labelnames: Sequence[str] = (),
    ) -> None:
        """Like :meth:`add_gauge` for a monotonic total kept elsewhere (``_total`` name),
        such as the logger's dropped-record count."""
        self._add_callback(name, help, fn, labelnames, "counter")

    def register_collector(self, collector: Collector) -> None:
        """Add a prometheus-client collector to this server's scrape output."""
        self._extra.register(collector)

    def _add_callback(
        self, name: str, help: str, fn: Callable[[], CallbackResult], labelnames: Sequence[str], kind: Kind
    ) -> None:
        self._check_new_name(name, kind)
        metric = CallbackMetric(f"{self.namespace}_{name}", help, kind, check_label_names(labelnames), fn)
        with self._lock:
            self._callbacks[name] = metric

    def _check_new_name(self, name: str, kind: Kind) -> None:
        check_metric_name(f"{self.namespace}_{name}")
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter name {name!r} must end in '_total'")
        reserved = {"http_requests_total", "http_request_duration_seconds", "queue_wait_seconds",
                    "metrics_callback_errors_total"}
        with self._lock:
            if name in reserved or name in self._counter_help or name in self._callbacks:
                raise ValueError(f"metric {self.namespace}_{name} is already defined")

    # -- scraping -------------------------------------------------------------

    def families(self) -> list[Family]:
        """Merge every shard and evaluate every callback now."""
        with self._lock:
            snapshot = self._retired.copy()
            for shard in self._shards:
                fold_shard(snapshot, shard)
            counter_help = dict(self._counter_help)
            callbacks = list(self._callbacks.values())
        families = build_families(self.namespace, snapshot, counter_help)
        # Callbacks run outside the lock: they may be slow or read other locks.
        errors = 0
        for callback in callbacks:
            try:
                families.append(callback.evaluate())
            except Exception:  # one broken gauge must not break /metrics
                errors += 1
        with self._lock:
            self._callback_errors += errors
            total_errors = self._callback_errors
        families.append(
            Family(
                f"{self.namespace}_metrics_callback_errors_total",
                "Scrape-time metric callbacks that raised (their metric was left out).",
                "counter",
                (),
                [((), total_errors)],
            )
        )
        return families

    @property
    def extra_registry(self) -> CollectorRegistry:
        """The registry of collectors added with :meth:`register_collector` and of the
        process metrics (rendered after the rover_* families)."""
        return self._extra

    def render(self) -> tuple[bytes, str]:
        """``(body, content_type)`` for ``GET /metrics``: everything in :attr:`registry`."""
        if len(self._label_cache) > _LABEL_CACHE_LIMIT:
            # Only callback gauges with ever-new label values can get here.
            self._label_cache = {}
        body = render_text(self.families(), self._label_cache).encode() + generate_latest(self._extra)
        return body, CONTENT_TYPE_LATEST
