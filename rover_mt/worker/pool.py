"""Worker threads: each owns its Lua runtimes and drains the request queue.

A worker takes one request (blocking), plus a fair share of what is already
queued (no waiting for a batch to fill, so no added latency; a fair share, so one
worker never hoards requests while another is idle), runs each handler with the
GIL released inside Lua, and hands each encoded response to its ticket.

Faults: a handler past its deadline is interrupted through the worker's
:class:`~rover_mt.worker.interrupt.WorkerInterrupt` (Lua 5.4). A worker that
stays stuck anyway (LuaJIT compiled loops, long C calls) is *retired*: the
watchdog calls :meth:`WorkerPool.replace`, a fresh worker with a fresh runtime
takes its place and its not-yet-started requests, and the old thread exits when
its handler finally returns. A runtime that runs out of memory and cannot
recover is rebuilt.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any

from ..request import Request, request_field
from .compose import DateHeader, shed_response
from ..os_thread import name_os_thread
from .runner import LuaRunner, batch_size

BATCH = 16
# Batches run several requests in one Lua call (docs/architecture.md, "Where the
# GIL is held"): only requests of one handler whose runs average at most
# BATCH_HANDLER_MAX seconds of CPU, and only as many as fit BATCH_CPU_BUDGET, so
# no answer waits long for the rest of its batch.
BATCH_HANDLER_MAX = 100e-6
BATCH_CPU_BUDGET = 0.5e-3
# How often an idle worker looks up from the queue (to pre-build the runtime of a
# generation being swapped in).
IDLE_POLL_SECONDS = 0.25
# Queue item telling one worker to exit.
STOP = object()


class Worker(LuaRunner):
    """One thread fed by the queue, with its runtimes and stats."""

    def __init__(self, pool: "WorkerPool", wid: int) -> None:
        super().__init__(pool, wid)
        self.retired = False  # set when the watchdog replaced this worker
        self.busy_since = 0.0
        # Requests taken from the queue but not started yet; guarded by _lock so a
        # replacement can take them over from a stuck worker.
        self.backlog: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self.metrics: Any = None
        self.thread = threading.Thread(target=self._run, name=f"rover-worker-{wid}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the loop ---------------------------------------------------------
    def _run(self) -> None:
        name_os_thread(f"rover-worker-{self.id}")
        pool = self.pool
        self.metrics = pool.engine.metrics.shard()
        try:
            self._warm(pool.engine.generation)
            self._loop()
        finally:
            if self.retired:
                # Fold this thread's counts into the totals; nothing records here again.
                pool.engine.metrics.retire(self.metrics)

    def _loop(self) -> None:
        pool = self.pool
        q = pool.sync_queue
        while True:
            item = self._next_local()
            if item is None:
                if self.retired:
                    return
                warm = pool.warm_generation
                if warm is not None and warm.id not in self.apps:
                    self._warm(warm)
                try:
                    item = q.get(timeout=IDLE_POLL_SECONDS)
                except queue.Empty:
                    if len(self.apps) > 1:  # idle: free swapped-out runtimes now
                        self._drop_unused_runtimes()
                    continue
                except Exception:  # the queue was shut down
                    return
                self._take_share(q)
            if item is STOP:
                return
            try:
                self._handle(self._batch_from(item))
            except Exception as exc:  # never lose the thread; the watchdog answers 504
                pool.engine.logger.error(f"worker {self.id}: internal error: {exc!r}")
            if len(self.apps) > 1:
                self._drop_unused_runtimes()

    def _next_local(self) -> Any:
        with self._lock:
            if self.retired or not self.backlog:
                return None
            return self.backlog.popleft()

    def _take_share(self, q: Any) -> None:
        """Take up to a fair share of what is queued into this worker's backlog."""
        share = min(BATCH - 1, q.qsize() // max(1, self.pool.count))
        items = []
        try:
            for _ in range(share):
                items.append(q.get_nowait())
        except Exception:  # empty (another worker was faster) or shut down
            pass
        if items:
            with self._lock:
                self.backlog.extend(items)

    def _batch_from(self, first: Request) -> list[Request]:
        """`first` and the requests after it in the backlog that can share its Lua
        call (same handler and generation, a fast handler)."""
        if not self.backlog:
            return [first]
        avg = self.pool.handler_average(first)
        if avg is None or avg > BATCH_HANDLER_MAX:
            return [first]
        limit = batch_size(avg, BATCH, BATCH_CPU_BUDGET)
        batch = [first]
        with self._lock:
            backlog = self.backlog
            while backlog and len(batch) < limit:
                nxt = backlog[0]
                if type(nxt) is not Request or nxt.hid != first.hid or nxt.generation is not first.generation:
                    break
                batch.append(backlog.popleft())
        return batch

    def take_backlog(self) -> list[Any]:
        """Retire this worker and hand over the requests it has not started."""
        with self._lock:
            self.retired = True
            items = list(self.backlog)
            self.backlog.clear()
        return items

    # -- runtimes -----------------------------------------------------------
    def _warm(self, gen: Any) -> None:
        """Build the runtime for `gen` before a request needs it."""
        try:
            self._app_for_generation(gen)
        except Exception as exc:
            self.pool.engine.logger.error(f"worker {self.id}: cannot build its Lua runtime: {exc}")
        finally:
            self.pool.warmed(self, gen)

    def _drop_unused_runtimes(self) -> None:
        """Free runtimes of generations that are swapped out and have no request left."""
        pool = self.pool
        current = pool.engine.generation.id
        for gid in [g for g in self.apps if g != current and not pool.generation_pending(g)]:
            del self.apps[gid]
            self.hooks.pop(gid, None)

    # -- one request ----------------------------------------------------------
    def _take(self, req: Request, now: float) -> bool:
        """Start `req`, or skip it when it was answered already (504 while
        queued) or its client left, or shed it when it waited past queue_timeout."""
        pool = self.pool
        if not pool.take(req.ticket, now):
            pool.finished(req)
            self.metrics.inc("completed_total")
            return False
        waited = now - req.enqueued
        limit = pool.queue_timeout
        if limit and waited > limit:
            self._shed_expired(req)
            return False
        self.metrics.queue_wait(waited)
        req.ticket.worker = self
        return True

    def _shed_expired(self, req: Request) -> None:
        """Answer 503 to a request that waited longer than queue_timeout, without
        running it: its client gets the fast answer of a full queue rather than a
        late 200, and the requests behind it start sooner
        (docs/deadlines-and-overload.md, "A limit on the wait")."""
        pool = self.pool
        pool.finished(req)
        metrics = self.metrics
        metrics.inc("completed_total")
        metrics.inc("shed_total")
        metrics.inc("queue_expired_total")
        if not self.retired:
            ticket = req.ticket
            ticket.deliver(ticket, shed_response(
                request_id=req.request_id, date=pool.date.get(),
                keep_alive=req.keep_alive and not pool.closing, head_only=req.head_only))

    def _handle(self, reqs: list[Request]) -> None:
        """Run `reqs` (see _batch_from): alone, or in one Lua call."""
        pool = self.pool
        metrics = self.metrics
        now = time.monotonic()
        live = [req for req in reqs if self._take(req, now)]
        if len(live) < 2:
            for req in live:
                self._run_one(req, now)
            return
        metrics.inc("batched_total", len(live))
        self.busy_since = now
        try:
            answers, per_request = self.execute_batch(live)
        finally:
            self.busy_since = 0.0
            pool.note_service((time.monotonic() - now) / len(live))
            for req in live:
                pool.finished(req)
                metrics.inc("completed_total")
        if self.retired:
            return
        for req, (status, data, body_len, _msg, _tb) in zip(live, answers):
            ticket = req.ticket
            ticket.service = per_request
            ticket.batch = len(live)
            ticket.deliver(ticket, (status, data, body_len))

    def _run_one(self, req: Request, now: float) -> None:
        ticket = req.ticket
        pool = self.pool
        metrics = self.metrics
        self.busy_since = now
        try:
            if pool.engine.inline is not None:
                # The loop thread learns from it which handlers may run inline.
                answer, ticket.service = self.execute_timed(req)
            else:
                answer = self.execute(req)
            status, data, body_len, _msg, _tb = answer
        finally:
            pool.note_service(time.monotonic() - now)
            # Counted before the answer leaves, so a client that reads its answer
            # and then scrapes /metrics sees this request as finished.
            self.busy_since = 0.0
            pool.finished(req)
            metrics.inc("completed_total")
        if not self.retired:
            ticket.deliver(ticket, (status, data, body_len))


class WorkerPool:
    """N workers over one queue, plus what they need from the engine."""

    def __init__(self, engine: Any, sync_queue: Any, count: int) -> None:
        self.engine = engine
        self.sync_queue = sync_queue
        self.count = count
        #: Seconds a request may wait for a worker (0: no limit); see Worker._take.
        self.queue_timeout: float = engine.config.queue_timeout
        #: Moving average of the wall time a worker spends per request, in seconds
        #: (Engine._nap reads it to tell how much work the queue holds).
        self.service_average = 0.0
        self.date = DateHeader()
        self.closing = False
        self._lock = threading.Lock()
        self.dead_queued = 0  # done while queued, not yet skipped (see mark_dead)
        self._warm_cond = threading.Condition(self._lock)
        self._pending: dict[int, int] = {}  # generation id -> requests queued or running
        self.workers: list[Worker] = []
        self.retired: list[Worker] = []  # replaced workers whose threads may still run
        self.restarts = 0
        self.warm_generation: Any = None  # generation being swapped in, if any
        self._warmed: dict[int, set[Worker]] = {}

    def start(self) -> None:
        for wid in range(1, self.count + 1):
            w = Worker(self, wid)
            self.workers.append(w)
            w.start()

    @property
    def busy(self) -> int:
        """Workers inside a handler now (read at scrape time, no lock on the hot path)."""
        return sum(1 for w in self.workers if w.busy_since)

    def backlog_depth(self) -> int:
        """Requests taken from the queue by workers but not started yet."""
        return sum(len(w.backlog) for w in self.workers)

    # -- requests that died while queued -----------------------------------------
    # A queued request whose client left (or that was answered 504 in the queue)
    # stays in the queue until a worker reaches it and skips it. It must not hold a
    # place under queue_bound meanwhile, or a burst of abandoned requests sheds live
    # ones. `dead_queued` counts them; both sides change it under the pool lock, so
    # a request is counted dead only while no worker has taken it.

    def mark_dead(self, ticket: Any) -> None:
        """Loop thread, after ticket.done was set: count it if it is still queued."""
        with self._lock:
            if ticket.queued and ticket.started == 0 and not ticket.dead:
                ticket.dead = True
                self.dead_queued += 1

    def take(self, ticket: Any, now: float) -> bool:
        """Worker thread: start the request (True), or skip it because it is done."""
        with self._lock:
            if ticket.done:
                ticket.started = -1.0
                if ticket.dead:
                    ticket.dead = False
                    self.dead_queued -= 1
                return False
            ticket.started = now
            return True

    # -- per-generation bookkeeping --------------------------------------------
    def queued(self, req: Request) -> None:
        """A request of req.generation is about to be queued (loop thread)."""
        gid = req.generation.id
        with self._lock:
            self._pending[gid] = self._pending.get(gid, 0) + 1

    def finished(self, req: Request) -> None:
        """A request left the pool (ran, skipped, or was never queued after all)."""
        gid = req.generation.id
        with self._lock:
            n = self._pending.get(gid, 0) - 1
            if n > 0:
                self._pending[gid] = n
            else:
                self._pending.pop(gid, None)

    def generation_pending(self, gid: int) -> int:
        return self._pending.get(gid, 0)

    def prewarm(self, gen: Any, timeout: float) -> bool:
        """Have every worker build its runtime for `gen`; True if all did in time."""
        end = time.monotonic() + timeout
        with self._warm_cond:
            self._warmed[gen.id] = set()
            self.warm_generation = gen
            try:
                while True:
                    missing = [w for w in self.workers if w not in self._warmed[gen.id]]
                    left = end - time.monotonic()
                    if not missing or left <= 0:
                        return not missing
                    self._warm_cond.wait(min(left, 0.1))
            finally:
                self.warm_generation = None
                del self._warmed[gen.id]

    def warmed(self, worker: Worker, gen: Any) -> None:
        with self._warm_cond:
            done = self._warmed.get(gen.id)
            if done is not None:
                done.add(worker)
                self._warm_cond.notify_all()

    # -- what workers need from the engine -------------------------------------
    def note_service(self, seconds: float) -> None:
        """A worker spent `seconds` on one request (worker thread). Workers update
        the average without a lock: a lost update only makes it a little staler."""
        self.service_average += (seconds - self.service_average) * 0.05

    def handler_average(self, req: Request) -> float | None:
        """The moving average of CPU seconds of `req`'s handler, once known (the
        direct-execution bookkeeping keeps it), else None. Any thread."""
        inline = self.engine.inline
        return None if inline is None else inline.average(req.generation.id, req.hid)

    def runtime_options(self, wid: int) -> dict[str, Any]:
        cfg = self.engine.config
        return dict(memory_limit=cfg.lua_memory_limit if self.engine.engine_name == "lua54" else 0,
                    worker_id=wid, worker_count=self.count, expose_errors=cfg.expose_errors,
                    get_field=request_field, shared_call=self.engine.shared.call,
                    log=self.engine.lua_log)

    def generation_live(self, gid: int) -> bool:
        return self.engine.generation_live(gid)

    def log_handler_error(self, req: Request, status: int, msg: Any, tb: Any) -> None:
        self.engine.log_handler_error(req, status, msg, tb)

    def on_restart(self, worker: Worker) -> None:
        self.restarts += 1
        self.engine.on_worker_restart(worker)

    # -- faults ---------------------------------------------------------------
    def replace(self, stuck: Worker) -> Worker:
        """Retire a stuck worker and start a fresh one with the same id, which also
        takes over the requests the stuck one had taken but not started."""
        backlog = stuck.take_backlog()
        fresh = Worker(self, stuck.id)
        fresh.backlog.extend(backlog)
        self.workers = [fresh if w is stuck else w for w in self.workers]
        self.retired.append(stuck)
        self.restarts += 1
        fresh.start()
        return fresh

    def stuck_count(self) -> int:
        """Retired workers whose threads are still inside their handler."""
        self.retired = [w for w in self.retired if w.thread.is_alive()]
        return len(self.retired)

    def stop(self, timeout: float) -> None:
        """Ask every worker to exit after the queue drains, then wait for them."""
        end = time.monotonic() + timeout
        for _ in self.workers:
            try:
                self.sync_queue.put(STOP, timeout=max(0.0, end - time.monotonic()))
            except (queue.Full, Exception):
                break
        for w in self.workers:
            w.thread.join(max(0.0, end - time.monotonic()))
