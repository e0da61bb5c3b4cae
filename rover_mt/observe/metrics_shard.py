"""One thread's private metric storage: recording is a few dict/list operations, no lock.

Each recording thread (a worker, the I/O thread) owns one :class:`MetricsShard`.
Only that thread writes to it, so ``+=`` on its plain ints and floats never loses
an update. The scraper reads the same objects from another thread without a lock:
it copies each dict (``dict.copy`` is atomic under the GIL and holds the dict's own
lock on free-threaded builds) and each list, so a scrape may see an observation's
bucket before its sum. That is harmless: every number only grows, and the next
scrape is consistent again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from rover_mt.observe.labels import (
    DURATION_BUCKETS,
    KNOWN_METHODS,
    OTHER_METHOD,
    OVERFLOW_ROUTE,
    UNMATCHED_ROUTE,
)

_BOUNDS = DURATION_BUCKETS
#: Layout of a histogram list: one slot per bucket, one for +Inf, then the sum.
HISTOGRAM_SLOTS = len(_BOUNDS) + 2
SUM_SLOT = HISTOGRAM_SLOTS - 1

#: (histogram list, {status: count}) for one (method, route) label pair.
Series = tuple[list[float], dict[int, int]]


def new_histogram() -> list[float]:
    """An empty histogram list in the shard layout (all counts and the sum at 0)."""
    return [0] * HISTOGRAM_SLOTS


class MetricsShard:
    """Counters and histograms written by exactly one thread.

    Get one from :meth:`Metrics.shard` in the thread that will use it. Methods are
    not safe to call from two threads at once on the same shard (they would lose
    increments, never crash); give every thread its own shard instead.
    """

    __slots__ = ("_fast", "series", "queue_wait_hist", "counters", "_admit_route", "_counter_known")

    def __init__(
        self,
        *,
        counters: dict[str, float],
        admit_route: Callable[[str], str],
        counter_known: Callable[[str], bool],
    ) -> None:
        # Raw (method, route) as the caller passed them -> series. Only bounded raw
        # keys are cached here, so a flood of odd methods cannot grow it.
        self._fast: dict[tuple[str, str | None], Series] = {}
        #: Canonical (method, route) labels -> series; what the scraper reads.
        self.series: dict[tuple[str, str], Series] = {}
        self.queue_wait_hist: list[float] = new_histogram()
        #: Counter name (without namespace) -> value; pre-filled with declared names.
        self.counters: dict[str, float] = counters
        self._admit_route = admit_route
        self._counter_known = counter_known

    def request(self, method: str, route: str | None, status: int, duration_s: float) -> None:
        """Count one finished request and observe its duration.

        ``route`` is the matched template (``/users/{id}``), never the raw path;
        ``None`` or :data:`UNMATCHED_ROUTE` for requests that matched nothing.
        Call exactly once per request whatever its fate (shed: 503, timed out: 504,
        client gone: :data:`CLIENT_CLOSED_STATUS`).
        """
        series = self._fast.get((method, route))
        if series is None:
            series = self._series_for(method, route)
        hist, statuses = series
        if not duration_s >= 0.0:  # NaN or a clock step backwards must not poison the sum
            duration_s = 0.0
        hist[bisect_left(_BOUNDS, duration_s)] += 1
        hist[SUM_SLOT] += duration_s
        statuses[status] = statuses.get(status, 0) + 1

    def queue_wait(self, seconds: float) -> None:
        """Observe how long one request waited in the worker queue."""
        if not seconds >= 0.0:
            seconds = 0.0
        hist = self.queue_wait_hist
        hist[bisect_left(_BOUNDS, seconds)] += 1
        hist[SUM_SLOT] += seconds

    def inc(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` (>= 0) to the declared counter ``name`` (e.g. ``"shed_total"``).

        Raises :class:`KeyError` for a name never declared with
        :meth:`Metrics.add_counter`, so a typo fails loudly instead of vanishing.
        """
        counters = self.counters
        try:
            counters[name] += amount
        except KeyError:
            # Declared after this shard was made, or a typo: the slow path decides.
            if not self._counter_known(name):
                raise KeyError(f"undeclared counter {name!r}; declare it with Metrics.add_counter") from None
            counters[name] = amount

    def _series_for(self, method: str, route: str | None) -> Series:
        """Slow path for a (method, route) this shard has not cached yet."""
        label_method = method if method in KNOWN_METHODS else OTHER_METHOD
        if route is None or route == UNMATCHED_ROUTE:
            label_route = UNMATCHED_ROUTE
        else:
            label_route = self._admit_route(route)
        labels = (label_method, label_route)
        series = self.series.get(labels)
        if series is None:
            # Build the whole entry before publishing it, so a scraper never sees
            # a half-made series.
            series = (new_histogram(), {})
            self.series[labels] = series
        # Cache the raw key only when it is one of a bounded set: a known method
        # and a route that was admitted (or None). Odd methods and overflow routes
        # keep taking this slow path rather than growing the cache without limit.
        if label_method == method and label_route != OVERFLOW_ROUTE:
            self._fast[(method, route)] = series
        return series
