"""Worker threads: each owns its Lua runtimes and drains the request queue.

A worker takes one request (blocking), then whatever else is already queued up to
`BATCH` (no waiting for a batch to fill, so no added latency), runs each handler
with the GIL released inside Lua, and hands each encoded response to its ticket.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ..request import Request, request_field
from .compose import DateHeader, compose

BATCH = 16

# Queue item telling one worker to exit.
STOP = object()


class Worker:
    """One thread, its Lua runtimes (one per live app generation), its stats."""

    def __init__(self, pool: "WorkerPool", wid: int) -> None:
        self.pool = pool
        self.id = wid
        self.retired = False  # set when the watchdog replaced this worker
        self.current: Request | None = None
        self.busy_since = 0.0
        self.handled = 0
        self.lua_memory = 0
        self.apps: dict[int, Any] = {}
        self.thread = threading.Thread(target=self._run, name=f"rover-worker-{wid}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the loop ---------------------------------------------------------
    def _run(self) -> None:
        pool = self.pool
        get = pool.sync_queue.get
        get_nowait = pool.sync_queue.get_nowait
        try:
            # Build the runtime before the first request arrives, not during it.
            self._app_for_generation(pool.engine.generation)
        except Exception as exc:
            pool.engine.logger.error(f"worker {self.id}: cannot build its Lua runtime: {exc}")
        while not self.retired:
            try:
                item = get()
            except Exception:  # the queue was shut down
                return
            batch = [item]
            try:
                # Stop draining at a STOP: each worker must consume exactly one.
                while len(batch) < BATCH and batch[-1] is not STOP:
                    batch.append(get_nowait())
            except Exception:
                pass
            for item in batch:
                if item is STOP:
                    # Finish the rest of the batch first: it was taken from the queue.
                    continue
                self._handle(item)
            if STOP in batch or self.retired:
                return

    def _app_for(self, req: Request) -> Any:
        return self._app_for_generation(req.generation)

    def _app_for_generation(self, gen: Any) -> Any:
        app = self.apps.get(gen.id)
        if app is None:
            # Drop runtimes of generations that nothing will use again.
            for gid in [g for g in self.apps if g < gen.id and not self.pool.generation_live(g)]:
                del self.apps[gid]
            app = gen.new_lua_app(**self.pool.runtime_options(self.id))
            self.apps[gen.id] = app
        return app

    def _handle(self, req: Request) -> None:
        ticket = req.ticket
        pool = self.pool
        if ticket.done:
            pool.on_skipped(req)
            return
        now = time.monotonic()
        ticket.started = now
        ticket.worker = self
        self.current = req
        self.busy_since = now
        pool.busy_delta(1)
        try:
            try:
                app = self._app_for(req)
                status, body, ctype, extra, log_msg, tb = app.call(
                    req.hid, req, req.deadline, req.params)
            except MemoryError:
                status, body, ctype, extra = 500, b'{"error":"Lua memory limit exceeded"}', b"application/json", None
                log_msg, tb = "Lua memory limit exceeded", None
                self._rebuild(req)
            except Exception as exc:  # a bug on our side, never the handler's
                status, body, ctype, extra = 500, b'{"error":"Internal Server Error"}', b"application/json", None
                log_msg, tb = f"internal error running handler: {exc!r}", None
            if log_msg is not None:
                pool.log_handler_error(req, status, log_msg, tb)
            data = compose(
                status, body, ctype, extra, request_id=req.request_id, date=pool.date.get(),
                keep_alive=req.keep_alive and not pool.closing, head_only=req.head_only,
            )
            self.handled += 1
            if self.handled & 63 == 0:
                self.lua_memory = app.memory_used() if "app" in locals() else 0
            if not self.retired:
                ticket.deliver(ticket, (status, data, len(body)))
        finally:
            self.current = None
            self.busy_since = 0.0
            pool.busy_delta(-1)

    def _rebuild(self, req: Request) -> None:
        """After a memory error, keep the runtime only if a full GC brings it back
        under the limit; otherwise build a fresh one for the next request."""
        app = self.apps.get(req.generation.id)
        if app is None:
            return
        try:
            app.lua.execute(b"collectgarbage()")
            limit = self.pool.runtime_options(self.id)["memory_limit"]
            if limit and app.memory_used() > limit * 0.9:
                raise MemoryError
        except Exception:
            del self.apps[req.generation.id]
            self.pool.on_restart(self)


class WorkerPool:
    """N workers over one queue, plus what they need from the engine."""

    def __init__(self, engine: Any, sync_queue: Any, count: int) -> None:
        self.engine = engine
        self.sync_queue = sync_queue
        self.count = count
        self.date = DateHeader()
        self.closing = False
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.workers: list[Worker] = []
        self.restarts = 0

    def start(self) -> None:
        for wid in range(1, self.count + 1):
            w = Worker(self, wid)
            self.workers.append(w)
            w.start()

    @property
    def busy(self) -> int:
        return self._busy

    def busy_delta(self, d: int) -> None:
        with self._busy_lock:
            self._busy += d

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

    def on_skipped(self, req: Request) -> None:
        self.engine.on_skipped(req)

    def on_restart(self, worker: Worker) -> None:
        self.restarts += 1
        self.engine.on_worker_restart(worker)

    def replace(self, stuck: Worker) -> Worker:
        """Retire a stuck worker and start a fresh one with the same id."""
        stuck.retired = True
        fresh = Worker(self, stuck.id)
        self.workers = [fresh if w is stuck else w for w in self.workers]
        self.restarts += 1
        fresh.start()
        return fresh

    def stop(self, timeout: float) -> None:
        """Ask every worker to exit after the queue drains, then wait for them."""
        for _ in self.workers:
            try:
                self.sync_queue.put(STOP, timeout=timeout)
            except (queue.Full, Exception):
                break
        end = time.monotonic() + timeout
        for w in self.workers:
            w.thread.join(max(0.0, end - time.monotonic()))

