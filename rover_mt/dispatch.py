"""③ The bounded queue between the I/O thread and the workers (janus).

The I/O thread submits with :meth:`Dispatcher.submit`; workers take from
``sync_queue``. When the queue is full, ``backpressure="shed"`` refuses at once and
``"block"`` waits up to the backpressure timeout for room, then refuses. A refused
request is answered 503 by the I/O thread and never costs worker time.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from typing import Any, Callable

import janus


# How often requests blocked for room (backpressure = "block") look for it.
BLOCKED_POLL_SECONDS = 0.001


class Submitted(enum.Enum):
    QUEUED = "queued"
    WAITING = "waiting"  # blocked for room; the callback reports the outcome
    SHED = "shed"


class Dispatcher:
    """Owns the janus queue. Create and submit on the loop thread only."""

    def __init__(self, bound: int, backlog: Callable[[], int] = lambda: 0,
                 backlog_max: int = 0) -> None:
        # Unbounded on purpose: admission below is the bound, because requests also
        # wait outside the janus queue (see `backlog`), which its maxsize cannot see.
        self.queue: janus.Queue[Any] = janus.Queue()
        self.sync_queue = self.queue.sync_q
        self._async_q = self.queue.async_q
        self.bound = bound
        # Admitted requests waiting for the end of this loop iteration: they are put
        # on the queue together, so one wake-up serves a worker several requests
        # (each put to an empty queue would otherwise wake a worker on its own).
        self._pending: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Waiting outside the janus queue counts too: requests workers took into
        # their backlogs but have not started (else a worker's batch would let the
        # effective queue grow past queue_bound), minus requests that died while
        # queued (client gone, or answered 504), which only wait to be skipped.
        self._backlog = backlog
        # Backlogs never hold more than this in total; below bound - backlog_max the
        # exact count is not needed, which keeps admission cheap in normal operation.
        self._sure_room = bound - backlog_max
        # Block mode: (item, deadline in loop time, outcome callback), oldest first.
        self._waiters: collections.deque[tuple[Any, float, Callable[[Any, bool], None]]] = \
            collections.deque()
        self._admitter: asyncio.Task[None] | None = None

    def depth(self) -> int:
        """Requests admitted and waiting: queued, about to be queued, or in a worker's backlog."""
        return self.sync_queue.qsize() + len(self._pending) + self._backlog()

    def submit(self, item: Any, mode: str, timeout: float,
               on_blocked_outcome: Callable[[Any, bool], None] | None = None) -> Submitted:
        """Queue `item`. Returns QUEUED, SHED, or WAITING (block mode, queue full:
        `on_blocked_outcome(item, queued)` is called later on the loop thread)."""
        pending = self._pending
        waiting = self.sync_queue.qsize() + len(pending)
        # Requests blocked for room go first: a newcomer never overtakes them.
        if not self._waiters and (waiting < self._sure_room or waiting + self._backlog() < self.bound):
            self._admit(item)
            return Submitted.QUEUED
        if mode != "block" or timeout <= 0 or on_blocked_outcome is None:
            return Submitted.SHED
        loop = asyncio.get_running_loop()
        self._waiters.append((item, loop.time() + timeout, on_blocked_outcome))
        if self._admitter is None:
            self._admitter = loop.create_task(self._admit_waiters())
        return Submitted.WAITING

    def _admit(self, item: Any) -> None:
        pending = self._pending
        pending.append(item)
        if len(pending) == 1:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._flush)

    async def _admit_waiters(self) -> None:
        """Block mode: while requests wait for room, look every millisecond; admit
        them oldest first as room appears, and refuse those whose time ran out.

        Room is measured the same way as in :meth:`submit` (queue, hand-over and
        workers' batches), which the janus queue's own `put` could not do: a worker
        taking a batch would let as many blocked requests in."""
        waiters = self._waiters
        loop = asyncio.get_running_loop()
        try:
            while waiters:
                room = self.bound - (self.sync_queue.qsize() + len(self._pending) + self._backlog())
                while waiters and room > 0:
                    item, _deadline, outcome = waiters.popleft()
                    self._admit(item)
                    room -= 1
                    outcome(item, True)
                now = loop.time()
                # Every waiter has the same timeout, so the oldest expires first.
                while waiters and waiters[0][1] <= now:
                    item, _deadline, outcome = waiters.popleft()
                    outcome(item, False)
                if waiters:
                    await asyncio.sleep(BLOCKED_POLL_SECONDS)
        finally:
            self._admitter = None

    def _flush(self) -> None:
        """Put the admitted requests of this loop iteration on the queue."""
        items, self._pending = self._pending, []
        put = self._async_q.put_nowait
        for item in items:
            try:
                put(item)
            except janus.AsyncQueueShutDown:
                return

    def close(self) -> None:
        self.queue.close()
