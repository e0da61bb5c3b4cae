"""Turning a raw value from any source into a valid, canonical setting value.

Values arrive in two shapes: Python values (from ``rover.server{...}``, already
converted from Lua, or from Python callers) and text (environment variables,
command-line flags, or a string in the app such as ``port = os.getenv("PORT")``).
Text is parsed first; then every value goes through the same type, range and
extra checks, so a setting means the same thing whichever way it was given.
"""

import math
from typing import Any

from .setting import SIZE_SUFFIXES, ConfigError, Setting

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_MAX_SHOWN = 60  # longest bad value quoted in an error, so a message stays one line


def coerce(setting: Setting, raw: Any, source: str) -> Any:
    """Return ``raw`` as a valid value of ``setting``, or raise :class:`ConfigError`.

    ``source`` says where the value came from ("ROVER_MT_PORT", "flag --port",
    "rover.server{} in app.lua") and is quoted in the error message.
    """
    try:
        value = _parse(setting, raw)
        if setting.check is not None:
            value = _run_check(setting, value)
    except ValueError as err:
        raise ConfigError(
            f"setting '{setting.name}' from {source}: {err}, got {_show(raw)}",
            setting=setting.name,
            source=source,
        ) from None
    return value


def _parse(setting: Setting, raw: Any) -> Any:
    """The typed, in-range value; ValueError("must be <description>") otherwise."""
    try:
        if setting.type is bool:
            value: Any = _to_bool(raw)
        elif setting.type is int:
            value = _to_int(raw, setting.is_size)
        elif setting.type is float:
            value = _to_float(raw)
        else:
            value = _to_str(setting, raw)
        _check_range(setting, value)
    except ValueError:
        # The parsers' own texts ("could not convert string to float") say less
        # than the setting's description, so they are replaced by it.
        raise ValueError("must be " + describe(setting)) from None
    return value


def _run_check(setting: Setting, value: Any) -> Any:
    assert setting.check is not None
    try:
        return setting.check(value)
    except ValueError as err:
        # A check's text completes "must ..."; fall back to the description.
        raise ValueError(str(err) or "must be " + describe(setting)) from None


def describe(setting: Setting) -> str:
    """What a valid value looks like, e.g. "an integer in [0, 65535]"."""
    if setting.choices is not None:
        return "one of: " + ", ".join(setting.choices)
    if setting.type is bool:
        return "a boolean (true/false, 1/0, yes/no, on/off)"
    if setting.type is str:
        return "a string"
    noun = {int: "an integer", float: "a number"}[setting.type]
    if setting.is_size:
        noun = "a size in bytes"
    bounds = range_text(setting)
    if not bounds:
        return noun
    # "an integer in [0, 65535]" but "an integer >= 1"
    return f"{noun} in {bounds}" if bounds[0] in "[(" else f"{noun} {bounds}"


def range_text(setting: Setting) -> str:
    """The allowed range in interval notation: "[0, 1]", "(0, 3600]", ">= 1", or ""."""
    lo, hi = setting.min, setting.max
    if lo is not None and hi is not None:
        left = "(" if setting.min_exclusive else "["
        return f"{left}{format_number(lo)}, {format_number(hi)}]"
    if lo is not None:
        return (">" if setting.min_exclusive else ">=") + " " + format_number(lo)
    if hi is not None:
        return "<= " + format_number(hi)
    return ""


def format_number(number: float) -> str:
    """A number as a user would write it: ``30`` rather than ``30.0``."""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _to_bool(raw: Any) -> bool:
    # Only real booleans or words: a Lua number 1 for a bool setting is more
    # likely a mistake (wrong option) than a deliberate "true".
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ValueError


def _to_int(raw: Any, is_size: bool) -> int:
    # bool is a subclass of int in Python; "port = true" must not become 1.
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        # Lua numbers can arrive as floats (30.0); only integral ones are integers.
        if math.isfinite(raw) and raw.is_integer():
            return int(raw)
        raise ValueError
    if isinstance(raw, str):
        return _parse_int_text(raw, is_size)
    raise ValueError


def _parse_int_text(text: str, is_size: bool) -> int:
    body = text.strip().lower().replace("_", "")
    scale = 1
    if is_size:
        for suffix, factor in SIZE_SUFFIXES:
            if body.endswith(suffix):
                body, scale = body[: -len(suffix)].strip(), factor
                break
    if not body:
        raise ValueError
    try:
        return int(body) * scale
    except ValueError:
        pass
    number = float(body) * scale  # "1.5MiB", "1e3"; raises ValueError for junk
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, (int, float)):
        number = float(raw)
    elif isinstance(raw, str):
        number = float(raw.strip())
    else:
        raise ValueError
    # NaN compares false with every bound, so it must be caught explicitly.
    if not math.isfinite(number):
        raise ValueError
    return number


def _to_str(setting: Setting, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError
    text = raw.strip()
    if setting.choices is None:
        return text
    word = dict(setting.aliases).get(text.lower(), text.lower())
    if word not in setting.choices:
        raise ValueError
    return word


def _check_range(setting: Setting, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    lo, hi = setting.min, setting.max
    too_low = lo is not None and (value <= lo if setting.min_exclusive else value < lo)
    too_high = hi is not None and value > hi
    if too_low or too_high:
        raise ValueError


def _show(raw: Any) -> str:
    shown = repr(raw)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return shown
