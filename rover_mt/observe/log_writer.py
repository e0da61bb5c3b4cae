"""A daemon thread that writes log lines, so emitting never waits on the stream.

Producers (workers, the I/O thread) append finished lines to a deque and at most
set an event; only the writer thread touches the stream. The deque is bounded
by a count check rather than ``maxlen`` because a full ``maxlen`` deque silently
evicts the *oldest* line, and we want to keep old lines, refuse new ones and
count them. Several producers may pass the check at once, so the buffer can
exceed its bound by at most one line per producer thread.

Warnings and errors (``important``) may use a reserve beyond ``capacity``, so a
flood of access lines that fills the buffer still leaves room for them; they are
dropped only when the reserve is full too, and counted separately.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TextIO

#: Lines joined into one ``write`` call; batching keeps a slow stream from
#: costing one system call per record.
_BATCH_LINES = 512
#: The writer re-checks the buffer this often even without a wake-up, as a
#: safety net (no correctness depends on it).
_IDLE_POLL_S = 0.5


class BackgroundWriter:
    """Writes queued lines to ``stream`` from its own daemon thread."""

    def __init__(self, stream: TextIO, capacity: int, reserve: int, name: str = "rover-log-writer") -> None:
        if capacity < 1 or reserve < 0:
            raise ValueError(f"log buffer size must be at least 1, got {capacity}")
        self._stream = stream
        self._capacity = capacity
        self._important_capacity = capacity + reserve
        # Items are str lines or threading.Event flush markers.
        self._queue: deque[str | threading.Event] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._stop = False
        self._count_lock = threading.Lock()
        #: Lines refused because the buffer was full (all levels).
        self.dropped = 0
        #: The part of :attr:`dropped` that were warnings or errors.
        self.dropped_important = 0
        #: Lines lost because the stream raised while writing them.
        self.write_errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, line: str, important: bool) -> bool:
        """Queue ``line`` without blocking; False (and counted) if there is no room."""
        queue = self._queue
        limit = self._important_capacity if important else self._capacity
        if self._closed or len(queue) >= limit:
            with self._count_lock:
                self.dropped += 1
                if important:
                    self.dropped_important += 1
            return False
        queue.append(line)
        # The writer clears the event before draining, so a set event means a
        # drain is already due; skipping the redundant set() saves a lock.
        if not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait until every line queued before this call is written; True if it was."""
        if not self._thread.is_alive():
            return not self._queue
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Refuse new lines, write what is queued, stop; waits at most ``timeout`` in all.

        Idempotent. If the stream is too slow to drain in time, the daemon thread
        keeps writing in the background until the process exits.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        self._stop = True
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def pending(self) -> int:
        """Lines currently waiting to be written."""
        return len(self._queue)

    def _run(self) -> None:
        wake = self._wake
        while not self._stop:
            wake.wait(_IDLE_POLL_S)
            wake.clear()
            self._drain()
        self._drain()  # whatever raced with close()

    def _drain(self) -> None:
        queue = self._queue
        batch: list[str] = []
        while True:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, str):
                batch.append(item)
                if len(batch) >= _BATCH_LINES:
                    self._write(batch)
                    batch = []
            else:
                # A flush marker: everything before it must be out first.
                self._write(batch)
                batch = []
                item.set()
        self._write(batch)

    def _write(self, batch: list[str]) -> None:
        if not batch:
            return
        try:
            self._stream.write("".join(batch))
            self._stream.flush()
        except Exception:
            # A closed or broken stream (e.g. stdout gone at interpreter exit)
            # must not kill the writer; the loss is counted instead.
            self.write_errors += len(batch)
