"""Log levels, formats and the sample rate: names, ranks and validation."""

from __future__ import annotations

import math

DEBUG, INFO, WARN, ERROR = 10, 20, 30, 40
#: Rank of ``nope``: above every record, so nothing is emitted.
NOPE = 100

LEVELS: dict[str, int] = {"debug": DEBUG, "info": INFO, "warn": WARN, "error": ERROR, "nope": NOPE}
#: Rank -> the name printed in records (upper case in text, lower case in JSON).
LEVEL_NAMES: dict[int, str] = {DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error"}
FORMATS = ("text", "json")


def parse_log_level(name: str) -> int:
    """Rank of a ``log_level`` name (case-insensitive); :class:`ValueError` otherwise."""
    rank = LEVELS.get(name.lower()) if isinstance(name, str) else None
    if rank is None:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}; got {name!r}")
    return rank


def parse_log_format(name: str) -> str:
    """A valid ``log_format`` (``text`` or ``json``, case-insensitive)."""
    fmt = name.lower() if isinstance(name, str) else None
    if fmt not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}; got {name!r}")
    return fmt


def validate_sample_rate(value: float) -> float:
    """``log_sample_rate`` as a float in [0, 1]; NaN, negatives, > 1 and non-numbers raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"log_sample_rate must be a number in [0, 1]; got {value!r}")
    rate = float(value)
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"log_sample_rate must be a number in [0, 1]; got {value!r}")
    return rate
