"""Adding up the metric families of several processes (``--processes N``).

Each server process exports its own :class:`Family` records; a scrape of any one
process must show the totals of all of them. These helpers turn families into
bytes (so a process can leave a snapshot for its siblings), back again, and add
several processes' families into one list that :func:`render_text` can write.

How each kind is combined:

* counters: summed per label set;
* histograms: summed bucket by bucket (and the sum slot), per label set;
* gauges: summed per label set, so ``queue_depth`` or ``busy_workers`` read as the
  whole server's; except the ``*_start_time_seconds`` and ``*_max_fds`` gauges,
  where the smallest value is kept (the oldest process, the tightest limit).
  Gauges of a process that has exited are dropped (see :func:`without_gauges`):
  they describe a state that no longer exists, while its counters stay in the
  totals so they never go down.

Other processes' numbers come from snapshots up to a second old, so two scrapes
answered by two different processes could disagree. :func:`keep_monotonic` takes
the largest of the current and every earlier answer for counters and histograms:
each answer is a lower bound of the true count at its time, so the largest one
still is, and Prometheus never sees a counter go down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import add
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

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


def _keeps_minimum(family: Family) -> bool:
    return family.kind == "gauge" and family.name.endswith(("_start_time_seconds", "_max_fds"))


def _add_samples(into: dict[tuple[str, ...], Any], family: Family) -> None:
    histogram = family.kind == "histogram"
    combine = min if _keeps_minimum(family) else add
    for values, value in family.samples:
        current = into.get(values)
        if current is None:
            # Copy histogram lists: the caller's families must stay untouched.
            into[values] = list(value) if histogram else value  # type: ignore[call-overload]
        elif histogram:
            if len(current) == len(value):  # type: ignore[arg-type]
                into[values] = list(map(add, current, value))  # type: ignore[call-overload]
        else:
            into[values] = combine(current, value)


def keep_monotonic(families: Sequence[Family], previous: Sequence[Family]) -> list[Family]:
    """``families`` with every counter and histogram raised to at least its value in
    ``previous`` (an earlier answer); gauges are left as they are.

    Histograms are raised slot by slot (bucket counts and the sum), which keeps
    each bucket monotonic; series only ``previous`` has are kept too.
    """
    before = {f.name: f for f in previous if f.kind != "gauge"}
    out = []
    for family in families:
        old = before.pop(family.name, None)
        if old is None or old.kind != family.kind or old.labelnames != family.labelnames:
            out.append(family)
            continue
        samples: dict[tuple[str, ...], Any] = dict(old.samples)
        for values, value in family.samples:
            prior = samples.get(values)
            if prior is None:
                samples[values] = value
            elif family.kind == "histogram":
                if len(prior) == len(value):  # type: ignore[arg-type]
                    samples[values] = list(map(max, prior, value))  # type: ignore[call-overload]
                else:
                    samples[values] = value
            else:
                samples[values] = max(prior, value)
        out.append(Family(family.name, family.help, family.kind, family.labelnames, list(samples.items())))
    out.extend(before.values())
    return out


def collector_families(collectors: Any) -> list[Family]:
    """Counter and gauge families of prometheus-client ``collectors`` (anything with
    ``collect()``, such as a registry), as :class:`Family` records.

    Used for the ``process_*`` metrics, so they can be added up across processes
    like the rest; other metric types are left out.
    """
    families = []
    for metric in collectors.collect():
        if metric.type == "counter":
            name = f"{metric.name}_total"
            samples = [s for s in metric.samples if s.name == name]
        elif metric.type in ("gauge", "unknown"):
            name = metric.name
            samples = [s for s in metric.samples if s.name == name]
        else:
            continue
        if not samples:
            continue
        labelnames = tuple(samples[0].labels)
        rows = [(tuple(s.labels.get(n, "") for n in labelnames), s.value) for s in samples]
        kind = "counter" if metric.type == "counter" else "gauge"
        families.append(Family(name, metric.documentation, kind, labelnames, rows))  # type: ignore[arg-type]
    return families



def render_families(families: Sequence[Family], label_cache: dict | None = None) -> tuple[bytes, str]:
    """``(body, content_type)`` of merged ``families`` for ``GET /metrics``."""
    return render_text(families, label_cache).encode(), CONTENT_TYPE_LATEST
