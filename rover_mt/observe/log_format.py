"""Turning one log record into one line of text or JSON.

Both formats guarantee one record per line: newlines and other control
characters in messages or values (a client-supplied path, a traceback) are
escaped, so a client cannot forge log lines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from rover_mt.observe.log_levels import LEVEL_NAMES

_TEXT_LEVELS = {rank: name.upper() for rank, name in LEVEL_NAMES.items()}
_JSON_RESERVED = frozenset({"ts", "level", "msg"})


class Timestamps:
    """UTC timestamps like ``2026-11-22T10:00:00.123Z``.

    Caches the formatted second, since records within one second share it. The
    cache is one tuple swapped atomically, so threads can share an instance.
    """

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (-1, "")

    def format(self, when: float) -> str:
        """Format ``when`` (seconds since the epoch) with millisecond precision."""
        second = int(when)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        millis = int((when - second) * 1000)
        return f"{prefix}.{millis:03d}Z"

    def now(self) -> str:
        """The current time, formatted."""
        return self.format(time.time())


def _quoted(text: str) -> str:
    """``text`` in double quotes with JSON escapes (quotes, backslashes, controls)."""
    return orjson.dumps(text).decode()


def _text_value(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = value if isinstance(value, str) else str(value)
    if not text or not text.isprintable() or " " in text or "=" in text or '"' in text:
        return _quoted(text)
    return text


def format_text(stamp: str, level: int, msg: str, fields: Mapping[str, Any]) -> str:
    """``<ts> <LEVEL> <msg> key=value ...`` plus a newline; awkward values are quoted."""
    if not msg.isprintable():
        msg = _quoted(msg)[1:-1]  # escape controls but keep the message unquoted
    parts = [stamp, _TEXT_LEVELS[level], msg]
    for key, value in fields.items():
        parts.append(f"{key}={_text_value(value)}")
    return " ".join(parts) + "\n"


def format_json(stamp: str, level: int, msg: str, fields: Mapping[str, Any]) -> str:
    """One JSON object per line: ``ts``, ``level``, ``msg``, then the fields.

    A field named like a base key is written as ``field_<name>`` so it cannot
    overwrite the record's own keys.
    """
    record: dict[str, Any] = {"ts": stamp, "level": LEVEL_NAMES[level], "msg": msg}
    for key, value in fields.items():
        record[f"field_{key}" if key in _JSON_RESERVED else key] = value
    try:
        encoded = orjson.dumps(record, default=str)
    except TypeError:
        # orjson refuses some values even with default= (ints over 64 bits).
        encoded = orjson.dumps({k: v if isinstance(v, str) else str(v) for k, v in record.items()})
    return encoded.decode() + "\n"
