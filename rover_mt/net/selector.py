"""① The I/O loop's selector: client sockets are served right where they are polled.

asyncio turns every ready socket into a callback object, queues it, and runs it
through its transport classes (about 3 µs of Python per request), and its
transports send each answer at once, which woke the client once per answer (see
:meth:`ServingSelector.flush`). Client sockets are therefore registered here with a :class:`~rover_mt.net.transport.SocketTransport`
as their key data, and :meth:`ServingSelector.select` hands their events straight
to it. Everything else asyncio registered (the listening socket, its wake-up
pipe) is returned to the loop as usual, and timers, ``call_soon`` callbacks and
tasks run exactly as before (docs/architecture.md, "The I/O thread").
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable
from typing import Any

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE


class ServingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The loop's selector: serves client sockets itself and, after a retry storm
    of 503s, sleeps before polling when the engine asks (``pause_for``)."""

    #: Client socket events handled between two looks at the workers' answers.
    BETWEEN_EVERY = 16

    def __init__(self, pause_for: Callable[[], float],
                 on_error: Callable[[BaseException, Any], None],
                 inbox: Any = None, collect: Callable[[], None] = lambda: None,
                 nap_for: Callable[[], float] = lambda: 0.0) -> None:
        super().__init__()
        self._pause_for = pause_for
        self._nap_for = nap_for
        self._on_error = on_error
        # The workers' answers (rover_mt/inbox.py), and what hands them to their
        # connections: answers that arrive while the loop is awake do not wake
        # it, so select() sends them before it polls, and every BETWEEN_EVERY
        # sockets of a long batch (under a retry storm a batch is hundreds of
        # sockets, ~10 ms, which they would otherwise wait).
        self._inbox = inbox
        self._collect = collect
        #: Transports with output written since the last flush (see flush()).
        self.unsent: list[Any] = []
        # The loop's queues of callbacks and timers (see watch_loop).
        self._loop_queues: tuple[Any, Any] | None = None

    def watch_loop(self, loop: Any) -> None:
        """Let :meth:`select` see what sending schedules on `loop`, so it blocks
        after sending unless that scheduled something. Without this (or for a
        loop without asyncio's ``_ready`` deque and ``_scheduled`` heap, private
        but unchanged since Python 3.4), every poll after a send is non-blocking."""
        ready, timers = getattr(loop, "_ready", None), getattr(loop, "_scheduled", None)
        if ready is not None and timers is not None:
            self._loop_queues = (ready, timers)

    def _queue_marks(self) -> tuple[int, int] | None:
        """How many callbacks and timers the watched loop holds (None: not watched)."""
        queues = self._loop_queues
        return None if queues is None else (len(queues[0]), len(queues[1]))

    def flush(self, start: int = 0) -> bool:
        """Send the output every connection queued since the last flush, or only
        that of the transports queued after the first `start` (the rest keeps its
        place in this iteration's batch).

        On loopback a send wakes the client's thread when it sleeps, and on a
        virtual machine that wake-up (an interrupt to the other core) was a fifth
        of the I/O thread's time: one per answer while answers went out one by
        one. Sent together, only the first answer of a batch wakes the client.

        Returns whether there was anything to send."""
        unsent = self.unsent
        if len(unsent) <= start:
            return False
        sending = unsent[start:]
        del unsent[start:]
        for transport in sending:
            try:
                transport.on_writable()
            except Exception as exc:
                self._on_error(exc, transport)
        return True

    def _send_answers(self) -> bool:
        """Hand the workers' answers that arrived to their connections and send
        only those: what this batch queued before (503s under a retry storm)
        keeps its place, since sending it early would only bring the retries back
        sooner. Returns whether anything was sent."""
        if not self._inbox:
            return False
        queued = len(self.unsent)
        self._collect()
        return self.flush(queued)

    def _pause(self, seconds: float) -> bool:
        """Sleep (releasing the GIL and the CPU) without reading any socket, but
        send the workers' answers as they come: the pause takes CPU from a retry
        storm of 503s, not time from the requests that were admitted. Returns
        whether it sent anything."""
        inbox = self._inbox
        if inbox is None:
            time.sleep(seconds)
            return False
        sent = False
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if inbox.wait(left):
                sent = self._send_answers() or sent
        return sent

    def select(self, timeout: float | None = None) -> list[Any]:
        inbox = self._inbox
        if inbox:  # answers that came while the loop was awake
            self._collect()
        # Send what they and the last loop iteration's callbacks wrote. Sending
        # may schedule callbacks or timers (a connection closing) or write more
        # (a connection resuming): asyncio chose the timeout before they
        # existed, so then do not block. Otherwise block: polling once more
        # first cost one request from a lone client an extra epoll_wait and
        # loop iteration, 5% of its rate (docs/architecture.md, "The I/O thread").
        # But no nap right after a send, as when that poll was non-blocking:
        # napping then read W5's requests later (p50 +0.25 ms, p99 +4%).
        sent = bool(self.unsent)
        if sent:
            marks = self._queue_marks()
            self.flush()
            if marks is None or self.unsent or self._queue_marks() != marks:
                timeout = 0
        pause = self._pause_for()
        if pause > 0 and self._pause(pause):
            timeout = 0  # as above: what it sent may have scheduled callbacks
        if inbox is not None and timeout != 0:
            if not inbox.sleeping():
                timeout = 0  # answers came meanwhile: take them in the next iteration
            elif not sent and (nap := self._nap_for()) > 0:
                # The workers have plenty queued (Engine._nap): let requests
                # gather before reading them. Answers finished meanwhile are
                # sent by their workers, since the loop counts as asleep.
                time.sleep(nap)
        ready = super().select(timeout)
        if inbox is not None:
            inbox.awake()
            if inbox:
                # Answers that workers sent themselves while the loop slept did
                # not wake it: finish them before reading what their clients
                # sent next (HttpConnection.send_early).
                self._collect()
        theirs = []
        countdown = self.BETWEEN_EVERY
        for key, events in ready:
            transport = key.data
            if type(transport) is tuple:  # asyncio's (reader, writer) handles
                theirs.append((key, events))
                continue
            countdown -= 1
            if not countdown:
                countdown = self.BETWEEN_EVERY
                self._send_answers()
            if transport.closed:
                continue  # closed by an earlier event of this batch
            try:
                # Still polled for reading: something earlier in this batch (the
                # engine writing an answer) may have paused it since the poll.
                if events & EVENT_READ and transport.mask & EVENT_READ:
                    transport.on_readable()
                if events & EVENT_WRITE:
                    transport.on_writable()  # a no-op once closed
            except Exception as exc:  # a bug must not stop the loop: drop this connection
                self._on_error(exc, transport)
        self.flush()
        return theirs
