"""The server's logger: levels, sampling at emit time, and a background writer.

Rules (SPEC sections 14 and 15):

* ``level`` filters first; ``nope`` silences everything, errors included.
* ``sample_rate`` then keeps each debug, info or access record with that
  probability, decided per record when it is emitted; ``0`` keeps only warnings
  and errors. Warnings and errors are never sampled.
* The line is formatted in the calling thread (field values may be objects that
  must not cross threads) and handed to a :class:`BackgroundWriter`; the call
  never blocks on the stream. When the buffer is full the record is dropped and
  counted in :attr:`Logger.dropped`; warnings and errors have a reserve of extra
  room first (see :mod:`log_writer`).
"""

from __future__ import annotations

import random
import sys
import weakref
from collections.abc import Callable
from typing import Any, TextIO

from rover_mt.observe.log_format import (
    Timestamps,
    format_access_json,
    format_access_text,
    format_json,
    format_text,
)
from rover_mt.observe.log_levels import (
    DEBUG,
    ERROR,
    INFO,
    LEVELS,
    WARN,
    parse_log_format,
    parse_log_level,
    validate_sample_rate,
)
from rover_mt.observe.log_writer import BackgroundWriter


class Logger:
    """Leveled, sampled, non-blocking logger writing text or JSON lines.

    Safe to call from any thread. Each server owns one; call :meth:`close` when
    the server stops (it is also closed at interpreter exit or when collected).
    """

    def __init__(
        self,
        *,
        level: str = "info",
        fmt: str = "text",
        sample_rate: float = 1.0,
        stream: TextIO | None = None,
        buffer_size: int = 10000,
        access_log: bool = True,
        rng: Callable[[], float] | None = None,
    ) -> None:
        """Validate the settings (``ValueError`` naming the setting) and start the writer.

        ``rng`` returns floats in [0, 1) and decides sampling; tests pass a seeded one.
        """
        self._level = parse_log_level(level)
        self.format = parse_log_format(fmt)
        self.sample_rate = validate_sample_rate(sample_rate)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"log buffer_size must be a positive integer, got {buffer_size!r}")
        self.access_log = access_log
        self._random = rng or random.random
        json = self.format == "json"
        self._format_line = format_json if json else format_text
        self._format_access = format_access_json if json else format_access_text
        self._timestamps = Timestamps()
        # Warnings and errors get a tenth more room than access/info lines.
        reserve = max(16, buffer_size // 10)
        self._writer = BackgroundWriter(stream if stream is not None else sys.stderr, buffer_size, reserve)
        # Closes the writer when this logger is collected or, at the latest, at
        # interpreter exit (weakref.finalize runs its atexit hooks while daemon
        # threads still run, so queued lines get written).
        self._finalizer = weakref.finalize(self, self._writer.close, 1.0)

    # -- emitting -------------------------------------------------------------

    def debug(self, msg: str, /, **fields: Any) -> None:
        """Log at debug level (sampled)."""
        self._emit(DEBUG, msg, fields)

    def info(self, msg: str, /, **fields: Any) -> None:
        """Log at info level (sampled)."""
        self._emit(INFO, msg, fields)

    def warn(self, msg: str, /, **fields: Any) -> None:
        """Log at warn level (never sampled)."""
        self._emit(WARN, msg, fields)

    def error(self, msg: str, /, **fields: Any) -> None:
        """Log at error level (never sampled)."""
        self._emit(ERROR, msg, fields)

    def access(
        self,
        *,
        method: str,
        path: str,
        route: str | None,
        status: int,
        duration_s: float,
        bytes_sent: int,
        request_id: str,
        client_ip: str,
    ) -> None:
        """One access line for a finished request (info level, sampled)."""
        if not self.access_log or INFO < self._level:
            return
        rate = self.sample_rate
        if rate < 1.0 and self._random() >= rate:
            return
        line = self._format_access(
            self._timestamps.now(), method, path, route, status, bytes_sent, duration_s, request_id, client_ip
        )
        self._writer.offer(line, False)

    def _emit(self, level: int, msg: str, fields: dict[str, Any]) -> None:
        if level < self._level:
            return
        if level < WARN:
            rate = self.sample_rate
            # random() is in [0, 1), so rate 0 drops every record and rate 1 none.
            if rate < 1.0 and self._random() >= rate:
                return
        self._writer.offer(self._format_line(self._timestamps.now(), level, str(msg), fields), level >= WARN)

    def enabled(self, level: str) -> bool:
        """Whether records of ``level`` pass the level filter (before sampling);
        lets callers skip building expensive fields."""
        return parse_log_level(level) >= self._level

    # -- state and lifecycle --------------------------------------------------

    @property
    def level(self) -> str:
        """The configured level name."""
        return next(name for name, rank in LEVELS.items() if rank == self._level)

    @property
    def dropped(self) -> int:
        """Records dropped because the buffer was full (all levels)."""
        return self._writer.dropped

    @property
    def dropped_important(self) -> int:
        """The warnings and errors among :attr:`dropped`."""
        return self._writer.dropped_important

    @property
    def write_errors(self) -> int:
        """Records lost because the stream raised while writing them."""
        return self._writer.write_errors

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` s until everything emitted so far is written."""
        return self._writer.flush(timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued (up to ``timeout`` s) and stop the writer. Idempotent;
        records emitted afterwards are dropped and counted."""
        self._finalizer.detach()
        self._writer.close(timeout)
