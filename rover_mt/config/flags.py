"""Command-line flags for every setting, and reading them back from argparse.

Flags are declared with ``default=None`` so that "not given" can be told apart
from "given the default value"; only given flags override the app and the
environment. Values stay text here: :meth:`Config.resolve` parses them with the
same rules as environment variables, so both give the same errors.
"""

import argparse
from typing import Any

from .model import SETTINGS
from .setting import Setting
from .values import describe, format_number

_METAVARS = {"bytes": "BYTES", "seconds": "SECONDS", "ms": "MS"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per setting to ``parser``, grouped like the docs.

    Boolean settings get ``--x`` and ``--no-x``. Every flag defaults to None.
    """
    groups: dict[str, Any] = {}
    for s in SETTINGS:
        if s.group not in groups:
            groups[s.group] = parser.add_argument_group(f"{s.group} settings")
        group = groups[s.group]
        # argparse %-formats help strings, so a literal % must be doubled.
        help_text = _help(s).replace("%", "%%")
        if s.type is bool:
            group.add_argument(
                s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            group.add_argument(s.flag, dest=s.name, default=None, metavar=_metavar(s), help=help_text)


def flags_from_namespace(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by name (flags not given are left out)."""
    given = {}
    for s in SETTINGS:
        value = getattr(ns, s.name, None)
        if value is not None:
            given[s.name] = value
    return given


def _metavar(s: Setting) -> str:
    if s.choices is not None:
        return "{" + ",".join(s.choices) + "}"
    if s.unit in _METAVARS:
        return _METAVARS[s.unit]
    return {int: "N", float: "NUMBER"}.get(s.type, "TEXT")


def _help(s: Setting) -> str:
    default = s.default_doc or (format_number(s.default) if not isinstance(s.default, bool) else str(s.default).lower())
    parts = [f"default: {default}"]
    if s.choices is None and s.type in (int, float):
        parts.append(describe(s))
    parts.append(f"env: {s.env}")
    return f"{s.help} ({'; '.join(parts)})"
