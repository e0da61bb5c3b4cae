"""Merging shards into one plain snapshot at scrape time (never on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import add

from rover_mt.observe.metrics_shard import MetricsShard, Series, new_histogram


@dataclass
class Snapshot:
    """Totals over a set of shards, as plain Python data owned by the caller.

    ``requests`` maps (method, route) to (histogram list, {status: count}) in the
    shard layout (bucket counts not cumulative, +Inf slot, then the sum).
    """

    requests: dict[tuple[str, str], Series] = field(default_factory=dict)
    queue_wait: list[float] = field(default_factory=new_histogram)
    counters: dict[str, float] = field(default_factory=dict)

    def copy(self) -> Snapshot:
        """A deep copy, so folding more shards into it leaves this one untouched."""
        return Snapshot(
            requests={k: (list(h), dict(s)) for k, (h, s) in self.requests.items()},
            queue_wait=list(self.queue_wait),
            counters=dict(self.counters),
        )


def _add_into(total: list[float], part: list[float]) -> None:
    # map/add runs in C: a scrape folds shards x series x 16 slots.
    total[:] = map(add, total, part)


def fold_shard(into: Snapshot, shard: MetricsShard) -> None:
    """Add ``shard``'s current numbers to ``into``.

    Safe while the shard's owner keeps recording: each dict and list is copied in
    one step before it is read (see :mod:`rover_mt.observe.metrics_shard`).
    """
    requests = into.requests
    for labels, (hist, statuses) in shard.series.copy().items():
        target = requests.get(labels)
        if target is None:
            requests[labels] = (hist.copy(), statuses.copy())
            continue
        # The owner only changes values in place, never the list's length, so
        # reading it while it records is safe.
        _add_into(target[0], hist)
        target_statuses = target[1]
        for status, count in statuses.copy().items():
            target_statuses[status] = target_statuses.get(status, 0) + count
    _add_into(into.queue_wait, list(shard.queue_wait_hist))
    counters = into.counters
    for name, value in shard.counters.copy().items():
        counters[name] = counters.get(name, 0) + value
