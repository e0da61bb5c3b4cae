"""Direct execution: handlers that are always fast run on the I/O thread itself.

Handing a request to a worker costs two thread crossings, each a futex wake-up
and a GIL hand-over. For a handler that runs a few microseconds of Lua that is
most of the request's cost (docs/performance.md). So the I/O thread keeps one
Lua runtime of its own, watches how long every handler takes (on workers and
here), and runs a handler inline once its recent runs stay under
``inline_handler_us``. A run is judged without what a call of a handler that
does nothing costs on this machine (:meth:`InlineRunner.measure_call_cost`):
that part is the machine's, not the handler's. Everything else still goes to
the workers, in parallel.

Why this cannot hang the server:

* Lua 5.4 only. A LuaJIT compiled loop cannot be interrupted, and a stuck I/O
  thread would be a dead server rather than one lost worker.
* A handler qualifies only after ``WARMUP`` runs whose moving average is under
  the threshold (and keeps running inline while it stays under ``KEEP_RATIO``
  times the threshold), and only for bodies up to ``MAX_BODY`` bytes (decoding grows
  with the body; a big upload goes to a worker).
* One inline run slower than ``slow`` (20 x the threshold, at least 1 ms)
  sends the handler back to the workers; it must qualify again over twice as
  many runs, and the (``MAX_DEMOTIONS`` + 1)-th time it stays on the workers for
  this app generation.
* An app can keep a handler off the I/O thread for good with
  ``rover.route { inline = false }``.
* Deadlines hold: a guard thread interrupts an inline handler that runs past
  its deadline (``lua_sethook``, as the watchdog does for workers) and the
  client gets the same 504.

The engine does not run an inline request the moment it is parsed: it holds
the requests one loop iteration reads and runs them at its end, one Lua call
per handler (:meth:`InlineRunner.run_batch`; Engine._run_inline_pending).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..os_thread import name_os_thread
from ..request import Request, Ticket
from .runner import Answer, LuaRunner, batch_size

WARMUP = 32  # runs a handler needs, on average under the threshold, to go inline
MAX_DEMOTIONS = 3  # demotions a handler may come back from; the next one is final
MAX_BODY = 8192  # larger request bodies always go to a worker
# Requests of one handler that run in one Lua call (Engine._run_inline_pending),
# at most, and at most this much of their average CPU time together: a batch
# holds the answers of all its requests until the last is done.
BATCH = 64
BATCH_CPU_BUDGET = 0.3e-3
GUARD_INTERVAL = 0.02  # seconds between the guard thread's deadline checks
# Checks in a row without an inline run after which the guard sleeps until the
# next one (1 s): an idle server must not wake 50 times a second. Idle
# processes' wake-ups cost a busy one on the same cores: nine idle servers
# took W3 from 17.4k to 16.5k req/s (bench/analysis.md).
GUARD_PARK_AFTER = 50
_SMOOTHING = 0.125  # weight of the newest run in the moving average
# A handler running inline stays inline until its average passes this multiple
# of the threshold. Without the margin a handler whose average sits near the
# threshold (inline runs measure a little slower: the I/O thread's CPU time
# includes network interrupts) went back and forth between the I/O thread and
# the workers, and that mix was slower than either: W3 did 12.9-13.9k req/s
# against 15.5k all inline or all on workers (bench/analysis.md).
KEEP_RATIO = 1.5
# Runs longer than this multiple of the threshold count as this long in the
# average that decides: a single run can take far longer than usual (network
# interrupts handled on the thread, a Lua GC step), and one such run in the
# moving average pushed a 9 µs handler over a 15 µs threshold. Runs that are
# really slow are the business of the demotion rule, not of the average.
CLIP_RATIO = 2.0

# A handler whose average is over the threshold but under this multiple of it
# still runs inline when the server is otherwise idle (Engine.handle_request):
# no other request is held for this thread or waits for a worker or runs on
# one. Then the two thread hand-offs are all the workers would add, and nobody
# waits for the I/O thread meanwhile. W3 (POST with rover.guard validation,
# ~55 µs on a 2.2 GHz EPYC) from one connection: 5.6k req/s on the workers,
# 7.4k inline. With more connections the workers are busy and it stays there.
IDLE_RATIO = 10.0

# The worker id a handler sees as rover.worker.id when it runs inline.
INLINE_WORKER_ID = 0
# Calls InlineRunner.measure_call_cost times.
CALL_COST_RUNS = 64


def _no_delivery(ticket: Ticket, result: Any) -> None:
    return None


class InlineRunner(LuaRunner):
    """The I/O thread's own runtime and the per-handler record of who runs what.

    :meth:`prepare` builds a generation's runtime on any thread but the loop's;
    :meth:`install`, :meth:`observe` and :meth:`run_batch` are called on the loop
    thread only, so the per-handler arrays need no lock.
    """

    def __init__(self, pool: Any, threshold_s: float, logger: Any) -> None:
        super().__init__(pool, INLINE_WORKER_ID)
        self.threshold = threshold_s
        self.slow = max(0.001, 20 * threshold_s)
        self._idle_limit = IDLE_RATIO * threshold_s
        self._clip = threshold_s * CLIP_RATIO
        self._keep = threshold_s * KEEP_RATIO
        self.logger = logger
        self.gen_id = 0  # the generation whose runtime is installed (0: none)
        # CPU seconds of a call of a handler that does nothing, in the installed
        # runtime (measure_call_cost): left out of every handler's time.
        self.call_cost = 0.0
        # Per handler id (index 0 unused): may it run inline now, its moving
        # average in seconds, runs since it last qualified or was demoted, runs
        # it needs, and how often it was demoted.
        self.ok: list[bool] = []
        self.idle_ok: list[bool] = []
        self._avg: list[float] = []  # of runs clipped at CLIP_RATIO x threshold
        self._cost: list[float] = []  # of the runs as measured (sizes batches)
        self._runs: list[int] = []
        self._need: list[int] = []
        self._demoted: list[int] = []
        self._stop = threading.Event()
        self._parked = False  # the guard sleeps on _wake (see _guard_loop)
        self._wake = threading.Event()
        self._guard = threading.Thread(target=self._guard_loop, name="rover-inline-guard", daemon=True)

    # -- runtimes ----------------------------------------------------------------
    def prepare(self, gen: Any) -> tuple[Any, Any]:
        """Build `gen`'s runtime (not on the loop thread: it takes milliseconds)."""
        app = gen.new_lua_app(**self.pool.runtime_options(self.id))
        return app, self.interrupt.attach(app)

    def install(self, gen: Any, built: tuple[Any, Any]) -> None:
        """Loop thread: run `gen`'s handlers here from now on, as they qualify.
        Older generations' runtimes go: nothing runs inline in between calls."""
        app, hook = built
        self.apps = {gen.id: app}
        self.hooks = {gen.id: hook}
        n = len(gen.bindings) + 1
        self.ok = [False] * n
        self.idle_ok = [False] * n  # may run here while the server is otherwise idle
        self._avg = [0.0] * n
        self._cost = [0.0] * n
        self._runs = [0] * n
        self._need = [WARMUP] * n
        self._demoted = [0] * n
        for hid in gen.never_inline:
            self._demoted[hid] = MAX_DEMOTIONS + 1  # rover.route { inline = false }
        self.gen_id = gen.id
        self.call_cost = self.measure_call_cost(gen)

    def measure_call_cost(self, gen: Any) -> float:
        """CPU seconds an inline call of one request takes when the handler does
        nothing: the median of CALL_COST_RUNS calls of the built-in handler 0
        (rover.lua), made exactly as inline requests are run and timed (loop
        thread, once per installed runtime: about a millisecond).

        That much of every measured run is the machine's cost of a call (into
        Lua and back, ctx, encoding the answer), not the handler's; on a machine
        where it alone exceeded ``inline_handler_us``, no handler ever qualified
        (docs/server-behavior.md, "Direct execution")."""
        now = time.monotonic()
        probe = Request(0, gen, "GET", "/", b"", (), None, "", (), b"0", b"", True, False,
                        now, now + 3600.0, Ticket(_no_delivery, None))
        times = []
        for _ in range(CALL_COST_RUNS):
            answers, seconds = self.execute_batch([probe])
            if answers[0][0] != 200:
                # Not a measure of a call (an app that broke the runtime's
                # libraries): judge runs as measured, as before this existed.
                return 0.0
            if seconds is not None:  # None: a GC collection ran meanwhile
                times.append(seconds)
        if not times:
            return 0.0
        times.sort()
        return times[len(times) // 2]

    def _app_for_generation(self, gen: Any) -> Any:
        # Never build on the loop thread; run() is only called for the installed one.
        return self.apps[gen.id]

    def _rebuild_if_needed(self, req: Request) -> None:
        super()._rebuild_if_needed(req)
        if req.generation.id not in self.apps:
            # The runtime was dropped after a memory error: nothing runs inline until
            # a fresh one, built off the loop thread, is installed.
            self.gen_id = 0
            gen, loop = req.generation, self.pool.engine.loop

            def rebuild() -> None:
                try:
                    built = self.prepare(gen)
                    loop.call_soon_threadsafe(self._reinstall, gen, built)
                except RuntimeError:  # the loop closed meanwhile: the server stopped
                    pass
                except Exception as exc:  # workers keep serving this generation
                    self.logger.error(f"could not rebuild the I/O thread's Lua runtime: {exc}")

            threading.Thread(target=rebuild, name="rover-inline-rebuild", daemon=True).start()

    def _reinstall(self, gen: Any, built: tuple[Any, Any]) -> None:
        if self.pool.engine.generation is gen:
            self.install(gen, built)

    # -- who runs what ------------------------------------------------------------
    def observe(self, gid: int, hid: int, seconds: float, batch: int = 1) -> None:
        """Record one run of handler `hid` (on a worker or inline): `seconds`
        per request of a Lua call that ran `batch` requests.

        What decides is the handler's own time: the call's cost beyond what a
        call of a handler that does nothing takes on this machine
        (``call_cost``), shared out over the batch."""
        if gid != self.gen_id:
            return
        runs = self._runs[hid] + 1
        self._runs[hid] = runs
        own = seconds - self.call_cost / batch
        if own < 0.0:
            own = 0.0
        clipped = own if own < self._clip else self._clip
        if runs == 1:
            avg = clipped
            self._cost[hid] = seconds
        else:
            avg = self._avg[hid]
            avg += (clipped - avg) * _SMOOTHING
            cost = self._cost[hid]
            self._cost[hid] = cost + (seconds - cost) * _SMOOTHING
        self._avg[hid] = avg
        ok = self.ok
        limit = self._keep if ok[hid] else self.threshold
        proven = runs >= self._need[hid] and self._demoted[hid] <= MAX_DEMOTIONS
        ok[hid] = proven and avg <= limit
        self.idle_ok[hid] = proven and self._cost[hid] <= self._idle_limit + self.call_cost

    def average(self, gid: int, hid: int) -> float | None:
        """Handler `hid`'s moving average in seconds (of its runs as measured,
        not clipped), once it has WARMUP runs since it last qualified or was
        demoted; None otherwise. Read by worker threads without a lock: a value
        read across a generation swap is only an estimate for sizing a batch."""
        if gid != self.gen_id:
            return None
        try:
            if self._runs[hid] < WARMUP:
                return None
            return self._cost[hid]
        except IndexError:
            return None

    def _demote(self, req: Request, seconds: float) -> None:
        hid = req.hid
        self.ok[hid] = False
        self.idle_ok[hid] = False
        self._runs[hid] = 0
        self._need[hid] *= 2
        self._demoted[hid] += 1
        final = self._demoted[hid] > MAX_DEMOTIONS
        self.logger.warn(
            f"handler took {seconds * 1000:.1f} ms on the I/O thread; it runs on workers "
            + ("from now on" if final else f"until it is fast again over {self._need[hid]} runs"),
            route=req.route, method=req.method)

    def runs_inline(self, req_generation_id: int, hid: int, body: bytes | None,
                    idle: bool = False) -> bool:
        """Whether a request for `hid` should run here now; with `idle`, when
        nothing else waits for a worker or for this thread (the engine checks
        that), which a handler proven under IDLE_RATIO x the threshold may too."""
        return (req_generation_id == self.gen_id and (self.idle_ok if idle else self.ok)[hid]
                and (body is None or len(body) <= MAX_BODY))

    def _judge(self, req: Request, seconds: float | None, batch: int) -> None:
        """Demote `req`'s handler after a run of `seconds` (per request of a
        call of `batch`) over the limit, or count the run; None (a GC
        collection ran meanwhile) is not counted."""
        if seconds is None:
            return
        if seconds > self.slow:
            self._demote(req, seconds)
        else:
            self.observe(req.generation.id, req.hid, seconds, batch)

    def batch_limit(self, hid: int) -> int:
        """How many requests for `hid` may run in one Lua call (at least 1).

        Sized by the clipped average, the one that lets the handler run inline:
        the unclipped one still carried a slow first run (a fresh runtime's)
        32 runs later, which sized batches of 1 for a handler of a few µs.

        That average is the handler's own time beyond a call's (:meth:`observe`),
        so a handler as cheap as the call gets 0, or a value that decays towards
        0 run after run (down to subnormal floats): full batches for both."""
        return batch_size(self._avg[hid], BATCH, BATCH_CPU_BUDGET)

    def run_batch(self, reqs: list[Request]) -> list[Answer]:
        """Run `reqs` (one or more requests of one handler, the installed
        generation) in one Lua call on this (the loop) thread. Each request is
        counted at the batch's average time; a batch slower per request than
        the limit demotes the handler."""
        first = reqs[0]
        before = self.interrupt.interrupts
        # The guard watches the first request: it has the earliest deadline of
        # the batch, and the Lua side stops each request whose own deadline passed.
        # Published before _parked is read, while the guard sets _parked before
        # it reads current: under the GIL one of the two sees the other, so a
        # run never starts unwatched (see _guard_loop).
        self.current = first
        if self._parked:
            self._wake.set()
        answers, seconds = self.execute_batch(reqs)
        self.current = None  # _call_batch clears it too, but a failure before it would not
        if self.interrupt.interrupts != before:
            timeouts = sum(1 for answer in answers if answer[0] == 504)
            self.pool.engine.io_metrics.inc("handler_timeouts_total", max(1, timeouts))
        self._judge(first, seconds, len(reqs))
        return answers

    # -- deadlines -----------------------------------------------------------------
    def start(self) -> None:
        self._guard.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _guard_loop(self) -> None:
        # The watchdog runs on the loop thread, which is busy while a handler runs
        # inline, so deadlines of inline handlers are watched from here.
        name_os_thread("rover-inline")
        quiet, seen = 0, self.handled
        while not self._stop.wait(GUARD_INTERVAL):
            req = self.current
            if req is not None:
                quiet = 0
                if time.monotonic() >= req.deadline:
                    self.interrupt.interrupt(req.ticket)
                continue
            if self.handled != seen:
                quiet, seen = 0, self.handled
                continue
            quiet += 1
            if quiet >= GUARD_PARK_AFTER:
                self._park()
                quiet, seen = 0, self.handled

    def _park(self) -> None:
        """Sleep until the next inline run (or stop)."""
        self._parked = True
        if self.current is None:  # read after _parked is set: see run()
            self._wake.wait()
        self._parked = False
        self._wake.clear()
