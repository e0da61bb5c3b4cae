"""The description of one setting, and the error raised for a bad value.

A :class:`Setting` is pure data: everything the rest of the config package needs
(parsing, validation, argparse flags, environment variables, the docs table) is
read from it, so adding a setting means adding one field to ``Config`` and nothing
else.
"""

from dataclasses import dataclass
from typing import Any, Callable

# A per-setting extra rule, run on a value that already has the right type and is
# in range: it returns the value in canonical form ("localhost" -> "127.0.0.1") or
# raises ValueError whose text completes "must ..." ("start with '/'").
Check = Callable[[Any], Any]

# Settings whose values are sizes accept these suffixes in text (env vars, flags,
# strings in the app). Binary and decimal units are both spelled out so that
# "1MB" never silently means 1 MiB.
SIZE_SUFFIXES: tuple[tuple[str, int], ...] = (
    ("kib", 1024),
    ("mib", 1024**2),
    ("gib", 1024**3),
    ("tib", 1024**4),
    ("kb", 1000),
    ("mb", 1000**2),
    ("gb", 1000**3),
    ("tb", 1000**4),
    ("b", 1),
)

ENV_PREFIX = "ROVER_MT_"


class ConfigError(ValueError):
    """A setting has a bad value, or an option name is unknown.

    ``str(err)`` is one line naming the setting, where the value came from and
    the allowed range, ready to print as a startup error.
    """

    def __init__(self, message: str, *, setting: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        #: the setting's name, when the error is about one setting
        self.setting = setting
        #: where the value came from, e.g. "ROVER_MT_PORT" or "flag --port"
        self.source = source


@dataclass(frozen=True, slots=True)
class Setting:
    """One server setting: its name, type, default, allowed values and help.

    ``env`` and ``flag`` are derived from ``name`` by :func:`make_setting`; they are
    stored so callers never rebuild them differently.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None
    min: float | None
    max: float | None
    unit: str  # "bytes", "seconds", "ms" or ""
    env: str
    flag: str
    #: when True the minimum itself is not allowed (timeouts must be > 0)
    min_exclusive: bool = False
    #: accepted spellings mapped to the canonical choice ("warning" -> "warn")
    aliases: tuple[tuple[str, str], ...] = ()
    #: extra rule and normaliser run after the type and range checks
    check: Check | None = None
    #: heading the setting is listed under in the docs and ``--help``
    group: str = "General"
    #: how the docs show a default that depends on the machine (workers)
    default_doc: str | None = None
    #: how the docs describe allowed values that a range cannot express (paths)
    allowed_doc: str | None = None

    @property
    def is_size(self) -> bool:
        """True for byte counts, which also accept suffixes like ``1MiB`` in text."""
        return self.unit == "bytes"


def env_name(name: str) -> str:
    """The environment variable for setting ``name``: ``ROVER_MT_`` + upper case."""
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    """The command-line flag for setting ``name``: dashes for underscores."""
    return "--" + name.replace("_", "-")
