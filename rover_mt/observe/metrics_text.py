"""Fast Prometheus text exposition (format 0.0.4/1.0.0) of :class:`Family` records.

Why not ``prometheus_client.generate_latest`` for everything: with 200 routes it
spends about 30 ms per scrape (per-sample label validation and escaping), and a
scrape must stay under 10 ms. This writer escapes each label set once per series
and emits the same text, which ``prometheus_client.parser`` reads back (the tests
check that both renderings parse to the same samples).
"""

from __future__ import annotations

from collections.abc import Iterable

from rover_mt.observe.labels import DURATION_BUCKETS
from rover_mt.observe.metrics_families import Family, format_number
from rover_mt.observe.metrics_shard import SUM_SLOT

_LE_VALUES = tuple(repr(float(b)) for b in DURATION_BUCKETS) + ("+Inf",)


def escape_label_value(value: str) -> str:
    """Escape a label value as the text format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """``a="x",b="y"`` without braces, so histogram buckets can append ``le``."""
    return ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values))


def _render_histogram(name: str, labels: str, hist: list[float], out: list[str]) -> None:
    prefix = f"{name}_bucket{{{labels}," if labels else f"{name}_bucket{{"
    cumulative = 0
    for le, count in zip(_LE_VALUES, hist):
        cumulative += count
        out.append(f'{prefix}le="{le}"}} {format_number(cumulative)}')
    braces = f"{{{labels}}}" if labels else ""
    out.append(f"{name}_count{braces} {format_number(cumulative)}")
    out.append(f"{name}_sum{braces} {format_number(hist[SUM_SLOT])}")


def render_text(families: Iterable[Family]) -> str:
    """The text exposition of ``families``, ending with a newline (or empty)."""
    out: list[str] = []
    for family in families:
        name = family.name
        out.append(f"# HELP {name} {_escape_help(family.help)}")
        out.append(f"# TYPE {name} {family.kind}")
        names = family.labelnames
        if family.kind == "histogram":
            for values, hist in family.samples:
                _render_histogram(name, _label_text(names, values), hist, out)  # type: ignore[arg-type]
            continue
        for values, value in family.samples:
            if values:
                out.append(f"{name}{{{_label_text(names, values)}}} {format_number(value)}")  # type: ignore[arg-type]
            else:
                out.append(f"{name} {format_number(value)}")  # type: ignore[arg-type]
    if not out:
        return ""
    out.append("")
    return "\n".join(out)
