"""What every place that runs handlers shares: Lua runtimes per app generation,
the interrupt switch, and turning one request into its encoded response.

Two kinds of runner exist: a :class:`~rover_mt.worker.pool.Worker` (a thread
fed by the queue) and the :class:`~rover_mt.worker.inline.InlineRunner` (the I/O
thread itself, for handlers that are always fast). A runner's runtimes are used
by one thread at a time; the inline runner's are built on another thread and
handed over once, which lupa allows (each runtime has its own lock).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from ..request import Request
from .compose import INTERNAL_ERROR_BODY, compose
from .interrupt import RuntimeHook, WorkerInterrupt
from .runtime import eager_body

NO_MEMORY = "not enough memory"
#: Longer than any collection of Python's GC here (about 2 ms with 500 busy
#: connections after the CLI's gc.freeze(), 10 ms without it).
GC_EXCUSE = 0.05
_TIMEOUT_BODY = b'{"error":"Handler timed out"}'

def _gc_epoch() -> tuple[int, int]:
    """Changes whenever Python's cyclic GC runs (young collections since the last
    middle one, middle ones since the last full one)."""
    _, young, old = gc.get_count()
    return young, old


def _cpu_spent(epoch: tuple[int, int], t0: float) -> float | None:
    """CPU seconds of this thread since `t0`, or None when the GC ran since
    `epoch` and the time is short enough for the collection to be most of it
    (see LuaRunner.execute_timed)."""
    seconds = time.thread_time() - t0
    return seconds if seconds > GC_EXCUSE or _gc_epoch() == epoch else None


# (status, response bytes, body length, error message or None, traceback or None)
Answer = tuple[int, bytes, int, Any, Any]


def batch_size(average: float, most: int, budget: float) -> int:
    """How many runs of a handler averaging `average` seconds share one Lua
    call: as many as fit `budget` seconds of CPU, between 1 and `most`. Any
    average of at most budget / most gets `most`, 0 and subnormal floats too
    (the budget divided by one of those overflows int())."""
    if average * most <= budget:
        return most
    return max(1, int(budget / average))


class LuaRunner:
    """Lua runtimes (one per live app generation) and how to run a handler on them."""

    def __init__(self, pool: Any, wid: int) -> None:
        self.pool = pool
        self.id = wid
        self.current: Request | None = None
        self.handled = 0
        self.lua_memory = 0
        self.apps: dict[int, Any] = {}
        self.hooks: dict[int, RuntimeHook | None] = {}
        self.interrupt = WorkerInterrupt()

    # -- runtimes -----------------------------------------------------------
    def _app_for_generation(self, gen: Any) -> Any:
        app = self.apps.get(gen.id)
        if app is None:
            app = gen.new_lua_app(**self.pool.runtime_options(self.id))
            self.hooks[gen.id] = self.interrupt.attach(app)
            self.apps[gen.id] = app
        return app

    # -- one request ----------------------------------------------------------
    def execute(self, req: Request) -> Answer:
        """Run `req`'s handler and encode the answer; never raises."""
        app = None
        try:
            app = self._app_for_generation(req.generation)
            # The Lua side runs the handler and encodes the whole response.
            answer = self._call(app, req)
        except MemoryError:
            answer = self._memory_answer(req)
        except Exception as exc:  # a bug on our side, never the handler's
            answer = self._internal_answer(req, exc)
        if answer[3] is not None:
            self._log_error(req, answer)
        self.handled += 1
        if app is not None and self.handled & 63 == 0:
            self.lua_memory = app.memory_used()
        return answer

    def execute_batch(self, reqs: list[Request]) -> tuple[list[Answer], float | None]:
        """Run the handlers of `reqs` (requests for one handler of one generation)
        in one Lua call; never raises. Returns the answers in order and the CPU
        seconds per request (the batch's time shared out; None as in
        :meth:`execute_timed`)."""
        epoch = _gc_epoch()
        t0 = time.thread_time()
        app = None
        try:
            app = self._app_for_generation(reqs[0].generation)
            answers = self._call_batch(app, reqs)
        except MemoryError:
            answers = [self._memory_answer(req) for req in reqs]
        except Exception as exc:
            answers = [self._internal_answer(req, exc) for req in reqs]
        seconds = _cpu_spent(epoch, t0)
        for req, answer in zip(reqs, answers):
            if answer[3] is not None:
                self._log_error(req, answer)
        self.handled += len(reqs)
        if app is not None:
            self.lua_memory = app.memory_used()
        return answers, (None if seconds is None else seconds / len(reqs))

    def _memory_answer(self, req: Request) -> Answer:
        return self._python_answer(req, 500, b'{"error":"Lua memory limit exceeded"}',
                                   "Lua memory limit exceeded")

    def _internal_answer(self, req: Request, exc: Exception) -> Answer:
        # A bug on our side, never the handler's.
        return self._python_answer(req, 500, INTERNAL_ERROR_BODY,
                                   f"internal error running handler: {exc!r}")

    def _log_error(self, req: Request, answer: Answer) -> None:
        """Log a handler's error; after a memory error, recover the runtime."""
        status, log_msg = answer[0], answer[3]
        if status == 500 and _is_memory_error(log_msg):
            self._rebuild_if_needed(req)
        self.pool.log_handler_error(req, status, log_msg, answer[4])

    def execute_timed(self, req: Request) -> tuple[Answer, float | None]:
        """:meth:`execute`, plus the CPU seconds it took, for direct execution
        (inline.py). CPU time, not wall time: the kernel may preempt the thread in
        the middle of a handler. None when Python's cyclic GC ran meanwhile and
        the run was short enough for the collection (a millisecond or more) to
        be most of it: that is not the handler's cost. A run over GC_EXCUSE is the
        handler's whatever ran meanwhile (a handler spinning until its deadline
        must not escape the count because some thread collected garbage)."""
        epoch = _gc_epoch()
        t0 = time.thread_time()
        answer = self.execute(req)
        return answer, _cpu_spent(epoch, t0)

    def _python_answer(self, req: Request, status: int, body: bytes, log_msg: Any) -> Answer:
        """An answer made here rather than by the Lua side (errors around the call)."""
        pool = self.pool
        data = compose(status, body, b"application/json", None, request_id=req.request_id,
                       date=pool.date.get(), keep_alive=req.keep_alive and not pool.closing,
                       head_only=req.head_only)
        return status, data, len(body), log_msg, None

    def _call(self, app: Any, req: Request) -> Answer:
        """Run the handler between begin/end of the interrupt switch."""
        interrupt = self.interrupt
        self.current = req
        interrupt.begin(req.ticket, self.hooks.get(req.generation.id))
        pool = self.pool
        try:
            keep_alive = req.keep_alive and not pool.closing
            answer = app.respond(req.hid, req, req.request_id, pool.date.get(),
                                 keep_alive, req.head_only, req.params, eager_body(req.body))
            if keep_alive and pool.closing:
                # The server began stopping while the handler ran: say so.
                answer = (answer[0], _with_close(answer[1]), *answer[2:])
            return answer
        except MemoryError:
            raise
        except Exception:
            # An interrupt armed in a race with the handler's return may raise
            # outside the handler; the client was answered 504 by the watchdog.
            if interrupt.armed:
                return self._python_answer(req, 504, _TIMEOUT_BODY, None)
            raise
        finally:
            interrupt.end()
            self.current = None

    def _call_batch(self, app: Any, reqs: list[Request]) -> list[Answer]:
        """:meth:`_call` for a batch: one interrupt bracket, one Lua call."""
        interrupt = self.interrupt
        first = reqs[0]
        # The watchdog looks at the first request: every request of a batch has
        # the same handler, so the same timeout, and the first the earliest deadline.
        self.current = first
        interrupt.begin(first.ticket, self.hooks.get(first.generation.id), tuple(reqs))
        pool = self.pool
        try:
            closing = pool.closing
            args: list[Any] = []
            for r in reqs:
                params = r.params
                args += (r.hid, r.request_id, r.keep_alive and not closing,
                         r.head_only, eager_body(r.body), len(params), *params)
            flat = app.respond_batch(reqs, pool.date.get(), args)
            answers: list[Answer] = []
            for k, r in enumerate(reqs):
                # Already an Answer: Lua returns nil (None) for no log message
                # or traceback.
                answer = flat[5 * k:5 * k + 5]
                if answer[1] is False:  # interrupted before it started
                    answer = self._python_answer(r, 504, _TIMEOUT_BODY, None)
                elif r.keep_alive and not closing and pool.closing:
                    answer = (answer[0], _with_close(answer[1]), *answer[2:])
                answers.append(answer)
            return answers
        except MemoryError:
            raise
        except Exception:
            if interrupt.armed:  # as in _call: the clients were answered 504
                return [self._python_answer(r, 504, _TIMEOUT_BODY, None) for r in reqs]
            raise
        finally:
            interrupt.end()
            self.current = None

    def _rebuild_if_needed(self, req: Request) -> None:
        """After a memory error, keep the runtime only if a full GC brings it back
        well under the limit; otherwise drop it so the next request gets a fresh one."""
        gid = req.generation.id
        app = self.apps.get(gid)
        if app is None:
            return
        limit = self.pool.runtime_options(self.id)["memory_limit"]
        try:
            app.lua.execute(b"collectgarbage()")
            keep = not limit or app.memory_used() <= limit * 0.5
        except Exception:
            keep = False
        if not keep:
            del self.apps[gid]
            self.hooks.pop(gid, None)
            self.pool.on_restart(self)


def _with_close(response: bytes) -> bytes:
    """Add ``Connection: close`` to an encoded response's head."""
    end = response.find(b"\r\n\r\n")
    return response[:end] + b"\r\nConnection: close" + response[end:]


def _is_memory_error(msg: Any) -> bool:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return NO_MEMORY in text or "memory limit" in text
