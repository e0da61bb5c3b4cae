"""Adding up the metric families of several processes (``--processes N``).

Each server process exports its own :class:`Family` records; a scrape of any one
process must show the totals of all of them. These helpers turn families into
bytes (so a process can leave a snapshot for its siblings), back again, and add
several processes' families into one list that :func:`render_text` can write.

How each kind is combined:

* counters: summed per label set;
* histograms: summed bucket by bucket (and the sum slot), per label set;
* gauges: summed per label set, so ``queue_depth`` or ``busy_workers`` read as the
  whole server's. Gauges of a process that has exited are dropped (see
  :func:`without_gauges`): they describe a state that no longer exists, while its
  counters stay in the totals so they never go down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import add
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rover_mt.observe.metrics_families import Family
from rover_mt.observe.metrics_text import render_text

_FORMAT_VERSION = 1


def families_to_bytes(families: Sequence[Family]) -> bytes:
    """Serialize ``families`` (JSON) for :func:`families_from_bytes` in another process."""
    rows = [[f.name, f.help, f.kind, list(f.labelnames), [[list(v), s] for v, s in f.samples]]
            for f in families]
    return orjson.dumps({"v": _FORMAT_VERSION, "families": rows})


def families_from_bytes(data: bytes) -> list[Family]:
    """The families :func:`families_to_bytes` wrote; ``ValueError`` if ``data`` is not one."""
    try:
        doc = orjson.loads(data)
        if doc.get("v") != _FORMAT_VERSION:
            raise ValueError(f"unknown metrics snapshot version {doc.get('v')!r}")
        return [Family(name, help_text, kind, tuple(labels), [(tuple(v), s) for v, s in samples])
                for name, help_text, kind, labels, samples in doc["families"]]
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a metrics snapshot: {exc}") from None


def without_gauges(families: Iterable[Family]) -> list[Family]:
    """``families`` minus its gauges: what still counts after its process exited."""
    return [f for f in families if f.kind != "gauge"]


def merge_families(groups: Iterable[Sequence[Family]]) -> list[Family]:
    """Add several processes' families into one list (see the module docstring).

    The order is that of the first group, then families only later groups have.
    A family whose kind or label names differ from the first one seen under its
    name is skipped in that group (processes of one app never disagree, but a
    snapshot from an older version must not corrupt the output).
    """
    merged: dict[str, tuple[Family, dict[tuple[str, ...], Any]]] = {}
    for families in groups:
        for family in families:
            entry = merged.get(family.name)
            if entry is None:
                samples: dict[tuple[str, ...], Any] = {}
                merged[family.name] = (family, samples)
            else:
                first, samples = entry
                if first.kind != family.kind or first.labelnames != family.labelnames:
                    continue
            _add_samples(samples, family)
    return [Family(f.name, f.help, f.kind, f.labelnames, list(samples.items()))
            for f, samples in merged.values()]


def _add_samples(into: dict[tuple[str, ...], Any], family: Family) -> None:
    histogram = family.kind == "histogram"
    for values, value in family.samples:
        current = into.get(values)
        if current is None:
            # Copy histogram lists: the caller's families must stay untouched.
            into[values] = list(value) if histogram else value  # type: ignore[call-overload]
        elif histogram:
            if len(current) == len(value):  # type: ignore[arg-type]
                into[values] = list(map(add, current, value))  # type: ignore[call-overload]
        else:
            into[values] = current + value


def render_merged(metrics: Any, peers: Iterable[Sequence[Family]],
                  label_cache: dict | None = None) -> tuple[bytes, str]:
    """``(body, content_type)`` of ``metrics`` (a :class:`~rover_mt.observe.Metrics`)
    with the other processes' families added in.

    The ``process_*`` families (CPU, memory, file descriptors) are not added up:
    they describe the process that answered the scrape.
    """
    families = merge_families([metrics.families(), *peers])
    body = render_text(families, label_cache).encode()
    # Metrics keeps its extra collectors (the process collector) in a side
    # registry; rendering it the way Metrics.render does keeps the output alike.
    body += generate_latest(metrics._extra)
    return body, CONTENT_TYPE_LATEST
