"""The throughput targets of issue 9, as data, and their evaluation.

Each target is a ratio of median requests/s of two servers measured side by
side in the same run, for one workload, checked at every connection count.
W5 (overload) and the idle footprint have their own checks (overload.py,
footprint.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """`numerator` must reach `required` times `denominator` on `workload`."""

    workload: str
    numerator: str
    denominator: str
    required: float


TARGETS: tuple[Target, ...] = (
    *(t for w in ("W1", "W2") for t in (
        Target(w, "rover-mt", "uvicorn-httptools", 1.2),
        Target(w, "rover-mt", "granian-1w", 1.0),
        Target(w, "rover-mt", "nginx-lua-1w", 0.5),
        Target(w, "rover-mt-h11", "selectors-h11", 1.0),
    )),
    Target("W3", "rover-mt", "uvicorn-httptools", 1.2),
    Target("W4", "rover-mt", "rover-mt-1w", 1.8),
    Target("W4", "rover-mt", "uvicorn-h11", 1.7),
    Target("W4", "rover-mt", "uvicorn-httptools", 1.7),
    Target("W4", "rover-mt", "granian-1w", 1.5),
    Target("W4", "rover-mt-luajit", "nginx-lua-2w", 0.8),
    Target("W1", "rover-mt-2proc", "rover-mt", 1.3),
)


def evaluate(summary: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Check every target against `summary[workload][connections][server]["rps"]["median"]`.

    Connection counts are strings (JSON keys).  A target whose servers were
    not both measured is reported with `met = None`.
    """
    rows = []
    for target in TARGETS:
        by_conn = summary.get(target.workload, {})
        for conns in sorted(by_conn, key=int) or ["-"]:
            servers = by_conn.get(conns, {})
            top, bottom = servers.get(target.numerator), servers.get(target.denominator)
            ratio = None
            if top and bottom and bottom["rps"]["median"] > 0:
                ratio = top["rps"]["median"] / bottom["rps"]["median"]
            rows.append({
                "workload": target.workload, "connections": conns,
                "numerator": target.numerator, "denominator": target.denominator,
                "required": target.required, "ratio": ratio,
                "met": None if ratio is None else ratio >= target.required,
            })
    return rows
