"""Neutral description of what a scrape exports, shared by both renderers.

:func:`build_families` turns a merged :class:`Snapshot` plus the server's callback
metrics into :class:`Family` records. :mod:`metrics_text` writes those as text
quickly; :mod:`metrics_collector` turns them into prometheus-client objects for
anyone who scrapes the registry directly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Union

from rover_mt.observe.metrics_snapshot import Snapshot

Kind = Literal["counter", "gauge", "histogram"]
CallbackResult = Union[float, Mapping[Union[tuple[str, ...], str], float]]

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Family:
    """One metric family. ``samples`` are (label values, value) for counters and
    gauges, (label values, histogram list in shard layout) for histograms.
    Counter names end in ``_total``."""

    name: str
    help: str
    kind: Kind
    labelnames: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], object]]


def check_metric_name(name: str) -> None:
    """Raise :class:`ValueError` unless ``name`` is a valid Prometheus metric name."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid metric name {name!r}")


def check_label_names(labelnames: Sequence[str]) -> tuple[str, ...]:
    """Validate label names and return them as a tuple."""
    names = tuple(labelnames)
    for label in names:
        if not _LABEL_RE.match(label) or label.startswith("__") or label == "le":
            raise ValueError(f"invalid label name {label!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"repeated label name in {names!r}")
    return names


@dataclass(frozen=True)
class CallbackMetric:
    """A gauge or counter whose value a server-supplied function gives at scrape time."""

    name: str
    help: str
    kind: Kind
    labelnames: tuple[str, ...]
    fn: Callable[[], CallbackResult]

    def evaluate(self) -> Family:
        """Call ``fn`` and check its result; raises whatever ``fn`` or the check raises."""
        result = self.fn()
        samples: list[tuple[tuple[str, ...], object]] = []
        if isinstance(result, Mapping):
            for key, value in result.items():
                values = (key,) if isinstance(key, str) else tuple(str(v) for v in key)
                if len(values) != len(self.labelnames):
                    raise ValueError(f"{self.name}: label values {values!r} do not match {self.labelnames!r}")
                samples.append((values, _number(value)))
        else:
            if self.labelnames:
                raise ValueError(f"{self.name}: labelled metric must return a mapping")
            samples.append(((), _number(result)))
        return Family(self.name, self.help, self.kind, self.labelnames, samples)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # Let objects with __float__ (numpy scalars, Decimal) through; refuse the rest.
        value = float(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def build_families(
    namespace: str,
    snapshot: Snapshot,
    counter_help: Mapping[str, str],
) -> list[Family]:
    """The request, queue-wait and declared-counter families of one snapshot."""
    requests: list[tuple[tuple[str, ...], object]] = []
    durations: list[tuple[tuple[str, ...], object]] = []
    for (method, route), (hist, statuses) in sorted(snapshot.requests.items()):
        durations.append(((method, route), hist))
        for status, count in sorted(statuses.items()):
            requests.append(((method, route, str(status)), count))
    families = [
        Family(
            f"{namespace}_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            "counter",
            ("method", "route", "status"),
            requests,
        ),
        Family(
            f"{namespace}_http_request_duration_seconds",
            "Time from a complete request to its response being handed to the socket.",
            "histogram",
            ("method", "route"),
            durations,
        ),
        Family(
            f"{namespace}_queue_wait_seconds",
            "Time requests spent in the worker queue before a worker took them.",
            "histogram",
            (),
            [((), snapshot.queue_wait)],
        ),
    ]
    for name, help_text in sorted(counter_help.items()):
        value = snapshot.counters.get(name, 0)
        families.append(Family(f"{namespace}_{name}", help_text, "counter", (), [((), value)]))
    return families


def format_number(value: float) -> str:
    """Prometheus text for a sample value (``+Inf``, ``NaN``, ints without ``.0``)."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"
