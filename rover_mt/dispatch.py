"""③ The bounded queue between the I/O thread and the workers (janus).

The I/O thread submits with :meth:`Dispatcher.submit`; workers take from
``sync_queue``. When the queue is full, ``backpressure="shed"`` refuses at once and
``"block"`` waits up to the backpressure timeout for room, then refuses. A refused
request is answered 503 by the I/O thread and never costs worker time.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any, Callable

import janus


class Submitted(enum.Enum):
    QUEUED = "queued"
    WAITING = "waiting"  # blocked for room; the callback reports the outcome
    SHED = "shed"


class Dispatcher:
    """Owns the janus queue. Create and submit on the loop thread only."""

    def __init__(self, bound: int, backlog: Callable[[], int] = lambda: 0,
                 backlog_max: int = 0) -> None:
        self.queue: janus.Queue[Any] = janus.Queue(maxsize=bound)
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

    def depth(self) -> int:
        """Requests admitted and waiting: queued, about to be queued, or in a worker's backlog."""
        return self.sync_queue.qsize() + len(self._pending) + self._backlog()

    def submit(self, item: Any, mode: str, timeout: float,
               on_blocked_outcome: Callable[[Any, bool], None] | None = None) -> Submitted:
        """Queue `item`. Returns QUEUED, SHED, or WAITING (block mode, queue full:
        `on_blocked_outcome(item, queued)` is called later on the loop thread)."""
        pending = self._pending
        waiting = self.sync_queue.qsize() + len(pending)
        if waiting < self._sure_room or waiting + self._backlog() < self.bound:
            pending.append(item)
            if len(pending) == 1:
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self._flush)
            return Submitted.QUEUED
        if mode != "block" or timeout <= 0 or on_blocked_outcome is None:
            return Submitted.SHED
        task = asyncio.get_running_loop().create_task(self._put_within(item, timeout))

        def done(t: "asyncio.Task[bool]") -> None:
            ok = not t.cancelled() and t.exception() is None and t.result()
            on_blocked_outcome(item, bool(ok))

        task.add_done_callback(done)
        return Submitted.WAITING

    def _flush(self) -> None:
        """Put the admitted requests of this loop iteration on the queue."""
        items, self._pending = self._pending, []
        put = self._async_q.put_nowait
        for i, item in enumerate(items):
            try:
                put(item)
            except janus.AsyncQueueFull:
                # A blocked submission took the room first; these were admitted,
                # so they wait for room rather than being shed.
                loop = asyncio.get_running_loop()
                for rest in items[i:]:
                    loop.create_task(self._async_q.put(rest))
                return
            except janus.AsyncQueueShutDown:
                return

    async def _put_within(self, item: Any, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._async_q.put(item), timeout)
            return True
        except (asyncio.TimeoutError, janus.AsyncQueueShutDown):
            return False

    def close(self) -> None:
        self.queue.close()
