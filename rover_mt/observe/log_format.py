"""Turning one log record into one line of text or JSON.

Both formats guarantee one record per line: newlines and other control
characters in messages or values (a client-supplied path, a traceback) are
escaped, so a client cannot forge log lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import orjson

from rover_mt.observe.log_levels import LEVEL_NAMES

_TEXT_LEVELS = {rank: name.upper() for rank, name in LEVEL_NAMES.items()}
_JSON_RESERVED = frozenset({"ts", "level", "msg"})
_time = time.time
# Values made only of these characters need no quotes in text lines: printable
# ASCII except space, double quote and "=".
_BARE_VALUE = re.compile(r"[!#-<>-~]+").fullmatch


class Timestamps:
    """UTC timestamps like ``2026-11-22T10:00:00.123Z``.

    Caches the last formatted millisecond and second, since a busy server emits
    many records per millisecond. Each cache is one tuple swapped atomically, so
    threads can share an instance.
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")
        self._milli: tuple[int, str] = (-1, "")

    def format_millis(self, millis: int) -> str:
        """Format a time given in whole milliseconds since the epoch."""
        cached_millis, text = self._milli
        if millis == cached_millis:
            return text
        second, remainder = divmod(millis, 1000)
        cached_second, prefix = self._second
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        text = f"{prefix}.{remainder:03d}Z"
        self._milli = (millis, text)
        return text

    def format(self, when: float) -> str:
        """Format ``when`` (seconds since the epoch) with millisecond precision."""
        return self.format_millis(int(when * 1000))

    def now(self) -> str:
        """The current time, formatted."""
        return self.format_millis(int(_time() * 1000))


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
    if _BARE_VALUE(text):
        return text
    return _quoted(text)


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


def format_access_text(
    stamp: str, method: str, path: str, route: str | None, status: int,
    bytes_sent: int, duration_s: float, request_id: str, client_ip: str,
) -> str:
    """The text access line; the same as :func:`format_text` with the access
    fields, written out for speed since it runs once per request."""
    # Usual case: every string is non-empty and bare, which one regex over their
    # concatenation proves; only otherwise is each value checked and quoted.
    if not (
        method and path and route and request_id and client_ip
        and _BARE_VALUE(method + path + route + request_id + client_ip)
    ):
        method, path, route = _text_value(method), _text_value(path), _text_value(route)
        request_id, client_ip = _text_value(request_id), _text_value(client_ip)
    return (
        f"{stamp} INFO access method={method} path={path} route={route} status={status}"
        f" bytes={bytes_sent} duration_ms={duration_s * 1000.0:.3f} request_id={request_id}"
        f" client_ip={client_ip}\n"
    )


def format_access_json(
    stamp: str, method: str, path: str, route: str | None, status: int,
    bytes_sent: int, duration_s: float, request_id: str, client_ip: str,
) -> str:
    """The JSON access line (``msg`` is ``"access"``)."""
    return format_json(stamp, 20, "access", {
        "method": method, "path": path, "route": route, "status": status,
        "bytes": bytes_sent, "duration_ms": round(duration_s * 1000.0, 3),
        "request_id": request_id, "client_ip": client_ip,
    })
