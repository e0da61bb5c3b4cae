"""The rover-mt error tree. Each class says how it surfaces: an HTTP status for
request-time errors, exit code 2 for operator errors (bad app, bad setting)."""

from __future__ import annotations


class RoverError(Exception):
    """Base of every error rover-mt raises on purpose."""

    status: int = 500


class StartupError(RoverError):
    """The server cannot start as configured; the CLI prints the message and exits 2."""


class AppLoadError(StartupError):
    """The Lua app failed to load: missing file, syntax error, bad route table.

    The message names the file and, where known, the line.
    """


class AddressInUseError(StartupError):
    """The listening address is taken by another process."""


class ServerOverloaded(RoverError):
    """The request queue is full (answered 503 with Retry-After)."""

    status = 503
