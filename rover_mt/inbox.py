"""Workers' answers on their way to the I/O thread, and the wake-ups they need.

A worker that finishes a request puts its answer here. Waking the loop costs a
write to its self-pipe, which releases the GIL mid-way (on a busy server every
hand-over of the GIL between threads is a thread wake-up, tens of µs on a
virtual machine) and makes the loop run one more callback. So the loop says when
it goes to sleep in its poll (:meth:`AnswerInbox.sleeping`) and when it wakes
(:meth:`AnswerInbox.awake`): while it is awake, answers are only appended, and
the loop's selector collects them before it polls again (and every few sockets
of a long batch). Only an answer that finds the loop asleep wakes it, and only
the first of those until the loop takes them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


class AnswerInbox:
    """Answers from any thread, taken by the loop thread."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._items: list[Any] = []
        self._wake_pending = False
        self._pausing = False  # the loop waits in wait(), not in its poll
        # Until the selector reports in, behave as if the loop slept: every
        # first answer wakes it.
        self._asleep = True

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, wake: bool = True) -> None:
        """Add an answer (any thread); wake the loop if it sleeps and nobody has
        yet. ``wake=False``: the answer was sent already (Engine._deliver) and the
        rest of its work can wait until the loop wakes for something else."""
        with self._lock:
            self._items.append(item)
            if self._pausing:
                self._arrived.notify()
                return
            if not wake or self._wake_pending or not self._asleep:
                return
            self._wake_pending = True
        self._wake()

    def loop_asleep(self) -> bool:
        """Whether an answer put now would have to wake the loop (any thread)."""
        return self._asleep and not self._wake_pending and not self._pausing

    def take(self) -> list[Any]:
        """All answers so far, oldest first (loop thread)."""
        with self._lock:
            items, self._items = self._items, []
            self._wake_pending = False
        return items

    def sleeping(self) -> bool:
        """The loop is about to block in its poll: True if it may (nothing is
        waiting; answers from now on wake it), False if answers are waiting."""
        with self._lock:
            if self._items:
                return False
            self._asleep = True
            return True

    def wait(self, timeout: float) -> bool:
        """Loop thread, during a pause (the shed pause of the engine): block up to
        `timeout` seconds or until an answer arrives; True if answers wait."""
        with self._lock:
            if not self._items:
                self._pausing = True
                try:
                    self._arrived.wait(timeout)
                finally:
                    self._pausing = False
            return bool(self._items)

    def awake(self) -> None:
        """The loop's poll returned (loop thread). An answer put just before this
        may still wake the loop once more, which is harmless."""
        self._asleep = False
