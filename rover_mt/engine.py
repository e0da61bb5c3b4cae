"""The engine: app generation, I/O loop thread, bounded queue, workers, observers.

Both front ends use it: :class:`rover_mt.Server` adds listening sockets,
:class:`rover_mt.App` calls :meth:`Engine.handle` from any Python thread. Every
request, however it arrives, goes through :meth:`Engine.dispatch` on the loop
thread, so routing, limits, deadlines and counting are the same for both.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .builtin import BuiltinEndpoints
from .client_identity import ClientAddress, RequestIds
from .config import Config
from .dispatch import Dispatcher, Submitted
from .inbox import AnswerInbox
from .generation import AppGeneration
from .config import parse_ip_list
from .observe import CLIENT_CLOSED_STATUS, UNMATCHED_ROUTE, Metrics
from .net.selector import ServingSelector
from .observe.logger import Logger
from .os_thread import name_os_thread
from .request import Request, Ticket
from .routing import MatchKind
from .worker.compose import INTERNAL_ERROR_BODY, compose, shed_response
from .worker.inline import InlineRunner
from .worker.pool import BATCH, WorkerPool
from .worker.shared_store import SharedStore

_new_request = tuple.__new__  # see handle_request
_FOUND = MatchKind.FOUND  # read once per request: a module constant is one lookup

UNMATCHED = UNMATCHED_ROUTE


def _cancel_pending_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs on a stopped loop (e.g. the admitter of requests
    blocked for room, when stopping did not wait for them), so no task is destroyed
    while pending."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class Engine:
    """Everything but the sockets. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, config: Config, generation: AppGeneration, *, logger: Logger | None = None) -> None:
        self.config = config
        self.generation = generation
        self.engine_name = generation.engine
        self.logger = logger or Logger(level=config.log_level, fmt=config.log_format,
                                       sample_rate=config.log_sample_rate,
                                       access_log=config.access_log)
        self.metrics = Metrics()
        self.shared = SharedStore()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.selector: ServingSelector | None = None  # serves the client sockets
        self._thread: threading.Thread | None = None
        self.dispatcher: Dispatcher | None = None
        self.pool: WorkerPool | None = None
        self.inline: InlineRunner | None = None  # direct execution (worker/inline.py)
        self.builtins = BuiltinEndpoints(self)
        self._builtin_get = self.builtins.routes.get  # one dict lookup per request
        self.closing = False
        self.stopped = False
        self._live_generations = {generation.id}
        self.inbox = AnswerInbox(self._wake_for_answers)  # workers' answers (inbox.py)
        # Bound once: every Ticket takes it (new_ticket).
        self.deliver = self._deliver
        self._shed_since = 0.0  # first shed of this loop iteration (see _shed_pause)
        self._shed_count = 0
        self._inflight: set[Ticket] = set()
        # Requests for the I/O thread's own runtime, read in this loop iteration
        # and run together at its end (see handle_request, _run_inline_pending).
        self._inline_pending: list[Request] = []
        # Who sent the last routed request, and when the last answer was counted
        # (see _inline_while_idle).
        self._last_owner: Any = None
        self._last_end = 0.0
        self._watchdog_timer: asyncio.TimerHandle | None = None  # None: not running
        self._stop_lock = threading.Lock()
        self.on_loop_stop: list[Callable[[], None]] = []  # run on the loop thread as it ends
        self.io_metrics: Any = None
        self.access_log = config.access_log and config.log_level != "nope"
        self.request_ids = RequestIds()
        self.client_address = ClientAddress(proxy_headers=config.proxy_headers,
                                            trusted=parse_ip_list(config.forwarded_allow_ips))
        self._backpressure = config.backpressure
        self._backpressure_timeout = config.backpressure_timeout_ms / 1000.0
        self._handler_timeout = config.handler_timeout

    # -- lifecycle --------------------------------------------------------
    def start(self, before_run: Callable[[asyncio.AbstractEventLoop], None] | None = None) -> None:
        """Start the loop thread and the workers; returns once they are ready.

        `before_run` runs on the loop thread before serving (the server binds its
        listeners there); an exception from it stops the engine and is re-raised.
        """
        started: Future[None] = Future()

        def run_loop() -> None:
            name_os_thread("rover-io")
            self.selector = ServingSelector(self._shed_pause, self._transport_failed,
                                            self.inbox, self._flush_ready, self._nap)
            loop = asyncio.SelectorEventLoop(self.selector)
            self.selector.watch_loop(loop)
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                # Workers' backlogs wait too; requests that died while queued do not.
                self.dispatcher = Dispatcher(
                    self.config.queue_bound,
                    lambda: (self.pool.backlog_depth() - self.pool.dead_queued) if self.pool else 0,
                    backlog_max=self.config.workers * BATCH)
                self.io_metrics = self.metrics.shard()
                self.pool = WorkerPool(self, self.dispatcher.sync_queue, self.config.workers)
                self.pool.start()
                self._start_inline()
                self._register_gauges()
                if before_run is not None:
                    before_run(loop)
                self._arm_watchdog()
            except BaseException as exc:  # reported to start()'s caller
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            try:
                loop.run_forever()
            finally:
                for cb in self.on_loop_stop:
                    cb()
                _cancel_pending_tasks(loop)
                loop.close()

        self._thread = threading.Thread(target=run_loop, name="rover-io", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=60)
        except BaseException:
            self._shutdown_workers(0.5)
            raise

    def _start_inline(self) -> None:
        """Give the I/O thread its own runtime for handlers that are always fast."""
        threshold = self.config.inline_handler_us
        if threshold <= 0 or self.generation.engine != "lua54":
            return
        assert self.pool is not None
        runner = InlineRunner(self.pool, threshold / 1e6, self.logger)
        runner.install(self.generation, runner.prepare(self.generation))
        runner.start()
        self.inline = runner

    def call_in_loop(self, fn: Callable[[], Any], timeout: float | None = 10.0) -> Any:
        """Run `fn` on the loop thread and wait for its result."""
        fut: Future[Any] = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        assert self.loop is not None
        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def stop(self, timeout: float | None = None, before: Callable[[], Any] | None = None,
             after: Callable[[], Any] | None = None) -> None:
        """Graceful stop; idempotent.

        `before` runs on the loop first (the server stops accepting and closes idle
        connections). Then queued and in-flight requests are finished (their
        responses say ``Connection: close``) for up to `timeout` seconds
        (``graceful_timeout`` by default). Then `after` runs on the loop (the server
        aborts what is left), and the workers and the loop stop.
        """
        with self._stop_lock:
            if self.stopped:
                return
            self.stopped = True
        if self.loop is None or self._thread is None:
            return
        grace = self.config.graceful_timeout if timeout is None else timeout
        end = time.monotonic() + grace
        self.closing = True
        if self.pool is not None:
            self.pool.closing = True
        self._run_on_loop(before)
        self._wait_inflight(end)
        # Two loop turns let the last responses' writes and closes go out first.
        self._run_on_loop(lambda: None)
        self._run_on_loop(lambda: None)
        self._run_on_loop(after)
        self._shutdown_workers(max(0.1, end - time.monotonic()))
        if self.inline is not None:
            # Only now: requests still arriving while stopping may run inline too.
            self.inline.stop()
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            pass
        self._thread.join(max(1.0, end - time.monotonic()))
        self.logger.close()

    def _run_on_loop(self, fn: Callable[[], Any] | None) -> None:
        if fn is None:
            return
        try:
            self.call_in_loop(fn, timeout=5.0)
        except Exception as exc:  # stopping goes on regardless
            self.logger.error(f"error while stopping: {exc!r}")

    def _wait_inflight(self, end: float) -> None:
        """Return once no request is queued or running, or `end` has passed."""
        while time.monotonic() < end:
            try:
                busy = self.call_in_loop(lambda: len(self._inflight), timeout=1.0)
            except Exception:
                break
            if not busy:
                break
            time.sleep(0.01)

    def _shutdown_workers(self, timeout: float) -> None:
        if self.pool is not None:
            self.pool.stop(timeout)

    # -- requests -----------------------------------------------------------
    def new_ticket(self, owner: Any) -> Ticket:
        return Ticket(self.deliver, owner)

    def handle_request(self, ticket: Ticket, method: str, target: bytes,
                       headers: tuple[tuple[bytes, bytes], ...], body: bytes | None,
                       peer_ip: bytes, keep_alive: bool, started: float) -> Any:
        """Route one complete request (loop thread).

        Returns ``(status, response_bytes, body_size)`` when it is answered at once
        (404, 405, OPTIONS, built-in endpoints, 503), or None when it was queued
        or held for this thread's own runtime (:meth:`_run_inline_pending`): the answer
        then arrives through ``ticket.owner.on_result``.
        """
        path_b, _, query = target.partition(b"?")
        path = path_b.decode("latin-1")
        rid = self.request_ids.for_request(headers)
        gen = self.generation
        head_only = method == "HEAD"
        keep_alive = keep_alive and not self.closing
        found = gen.static_targets.get((method, path))  # see AppGeneration.static_targets
        if found is None:
            builtin = self._builtin_get(path)
            if builtin is not None and (method == "GET" or head_only) and path not in gen.static_paths:
                status, ctype, payload, extra = builtin()
                # Built-in paths are few and fixed, so they label themselves.
                return self._immediate(ticket, method, path, path, status, ctype, payload, extra,
                                       rid, keep_alive, head_only, started, peer_ip)
            resolution, entry, values = gen.router.resolve(method, path)
            if resolution[0] is not _FOUND:
                return self._unrouted(ticket, method, path, resolution, entry, rid, keep_alive,
                                      head_only, started, peer_ip)
            found = gen.targets[(resolution[1], resolution[2])]
            if len(values) == 1:
                # The usual case: built directly it costs a third of the list
                # comprehension (which makes a function in 3.11).
                params = (values[0].encode(),)
            else:
                params = tuple([v.encode() for v in values]) if values else ()
        else:
            params = ()
        hid, route, timeout = found
        # Positional and without Request's own __new__: one is built per
        # request, and the keyword call cost twice as much (the field order
        # is Request's).
        req = _new_request(Request, (
            hid, gen, method, path, query, headers, body or None, route, params, rid,
            self.client_address.of(peer_ip, headers), keep_alive, head_only, started,
            started + (self._handler_timeout if timeout is None else timeout), ticket))
        ticket.request = req
        owner = ticket.owner
        lone = owner is self._last_owner
        self._last_owner = owner
        inline = self.inline
        if inline is not None and (inline.runs_inline(gen.id, hid, body)
                                   or self._inline_while_idle(inline, gen.id, hid, body, lone, started)):
            # Held for this thread's own runtime until the end of this loop
            # iteration: the requests one poll brings in then run in one Lua
            # call per handler, as batches do on the workers, instead of one
            # call each (docs/architecture.md, "Inline runs in batches").
            pending = self._inline_pending
            pending.append(req)
            if len(pending) == 1:
                self.loop.call_soon(self._run_inline_pending)  # type: ignore[union-attr]
            return None
        return self.submit(req)

    def _inline_while_idle(self, inline: Any, gid: int, hid: int, body: bytes | None,
                           lone: bool, started: float) -> bool:
        """Whether a request whose handler is too slow to run inline always
        should run inline now: the server is otherwise idle, and the handler
        is fast enough for that (InlineRunner.runs_inline with `idle`). Counts the
        requests it says yes to.

        Idle: nothing else is held for this thread, waits for a worker or runs
        on one, and either the last request came from the same connection (one
        client, request after request: nothing could run in parallel anyway)
        or the server answered nothing for IDLE_GAP before this request was
        read. Two clients taking turns are not idle: their requests ran one
        after the other on the I/O thread instead of side by side on the
        workers, and W3 from 2 connections fell from 6.8-7.3k to 6.4-6.6k req/s."""
        if self._inline_pending or self._inflight:
            return False
        if not lone and started - self._last_end < self.IDLE_GAP:
            return False
        if not inline.runs_inline(gid, hid, body, idle=True):
            return False
        self.io_metrics.inc("inline_idle_total")
        return True

    def _unrouted(self, ticket: Ticket, method: str, path: str, resolution: Any, entry: Any,
                  rid: bytes, keep_alive: bool, head_only: bool, started: float,
                  peer_ip: bytes) -> Any:
        """The answer to a request that matched no handler: 404, 405 or OPTIONS."""
        kind = resolution[0]
        if kind is MatchKind.NOT_FOUND:
            return self._immediate(ticket, method, path, UNMATCHED, 404, b"text/plain; charset=utf-8",
                                   b"Route not found", None, rid, keep_alive, head_only, started, peer_ip)
        route = entry.template if entry is not None else UNMATCHED
        allow = b"Allow: " + resolution[4].encode()
        if kind is MatchKind.AUTO_OPTIONS:
            return self._immediate(ticket, method, path, route, 204, None, b"", allow,
                                   rid, keep_alive, head_only, started, peer_ip)
        return self._immediate(ticket, method, path, route, 405, b"application/json",
                               b'{"error":"Method Not Allowed"}', allow,
                               rid, keep_alive, head_only, started, peer_ip)

    def _immediate(self, ticket: Ticket, method: str, path: str, route: str, status: int,
                   ctype: bytes | None, payload: bytes, extra: bytes | None, rid: bytes,
                   keep_alive: bool, head_only: bool, started: float, peer_ip: bytes) -> Any:
        ticket.done = True
        data = compose(status, payload, ctype, extra, request_id=rid, date=self.date(),
                       keep_alive=keep_alive, head_only=head_only)
        self.record(method, path, route, status, started, len(payload), rid, peer_ip)
        return (status, data, len(payload))

    def _run_inline_pending(self) -> None:
        """Run the requests held by :meth:`handle_request` for this thread's
        runtime and hand out the answers."""
        pending, self._inline_pending = self._inline_pending, []
        inline = self.inline
        assert inline is not None
        groups: dict[int, list[Request]] = {}
        for req in pending:
            if req.ticket.done:  # the client left meanwhile (counted as 499)
                req.ticket.request = None
                continue
            if req.generation.id != inline.gen_id:
                # The app was swapped since it was read: its runtime here is gone.
                self._hand_to_workers(req)
                continue
            group = groups.get(req.hid)
            if group is None:
                groups[req.hid] = [req]
            else:
                group.append(req)
        for group in groups.values():
            try:
                self._run_inline_group(inline, group)
            except Exception as exc:  # a bug on our side: answer, never drop
                self._inline_failed(group, exc)

    def _run_inline_group(self, inline: Any, group: list[Request]) -> None:
        """Run `group` (requests for one handler) in batches and hand out the answers."""
        limit = inline.batch_limit(group[0].hid)
        for start in range(0, len(group), limit):
            reqs = group[start:start + limit]
            answers = inline.run_batch(reqs)
            if len(reqs) > 1:
                self.io_metrics.inc("inline_batched_total", len(reqs))
            self.io_metrics.inc("inline_total", len(reqs))
            self._finish_inline(reqs, answers)

    def _inline_failed(self, group: list[Request], exc: Exception) -> None:
        """Answer 500 to the requests of `group` still unanswered after an error
        of our own around their inline run. They are not handed to a worker:
        their handler may have run already."""
        self.logger.error(f"internal error running handlers on the I/O thread: {exc!r}",
                          route=group[0].route, method=group[0].method)
        for req in group:
            ticket = req.ticket
            ticket.request = None
            if ticket.done:
                continue
            result = self._immediate(ticket, req.method, req.path, req.route, 500,
                                     b"application/json", INTERNAL_ERROR_BODY,
                                     None, req.request_id, req.keep_alive, req.head_only,
                                     req.enqueued, req.client_ip)
            ticket.owner.on_result(ticket, result)

    def _finish_inline(self, reqs: list[Request], answers: list[Any]) -> None:
        """Count and hand out the answers of one inline batch: :meth:`_answer`
        for requests that were never queued (so never in flight or a worker's),
        with one clock reading for the batch, which ended at once."""
        ended = time.monotonic()
        record = self.record
        for req, answer in zip(reqs, answers):
            ticket = req.ticket
            ticket.request = None  # breaks the cycle with req (see _flush_ready)
            if ticket.done:  # the client left while it ran (counted as 499)
                continue
            ticket.done = True
            record(req.method, req.path, req.route, answer[0], req.enqueued, answer[2],
                   req.request_id, req.client_ip, ended)
            # The answer as the runner made it: its first three items are the
            # (status, bytes, body length) owners read.
            ticket.owner.on_result(ticket, answer)

    def _hand_to_workers(self, req: Request) -> None:
        result = self.submit(req)
        if result is not None:  # shed: answered at once
            req.ticket.request = None
            req.ticket.owner.on_result(req.ticket, result)

    def new_request_id(self) -> bytes:
        """A fresh request id (loop thread only)."""
        return self.request_ids.new()

    def date(self) -> bytes:
        return self.pool.date.get() if self.pool is not None else b""

    def record(self, method: str, path: str, route: str, status: int, started: float,
               nbytes: int, rid: bytes, client_ip: bytes, ended: float = 0.0) -> None:
        """Count one finished request (loop thread): metrics and the access log.
        `ended`: when its answer was sent, if not now (sent by a worker)."""
        ended = self._last_end = ended or time.monotonic()
        duration = ended - started
        self.io_metrics.request(method, route, status, duration)
        if self.access_log:
            self.logger.access(method=method, path=path, route=route, status=status,
                               duration_s=duration, bytes_sent=nbytes,
                               request_id=rid.decode("latin-1"), client_ip=client_ip.decode("latin-1"))

    def client_gone(self, ticket: Ticket) -> None:
        """The client closed before its answer (loop thread): count it as 499."""
        self._inflight.discard(ticket)
        if ticket.queued and self.pool is not None:
            self.pool.mark_dead(ticket)
        req = ticket.request
        if req is not None:
            self.record(req.method, req.path, req.route, CLIENT_CLOSED_STATUS, req.enqueued, 0,
                        req.request_id, req.client_ip)
        worker = ticket.worker
        if worker is not None:
            # Nobody will read the answer: stop the handler now rather than at its
            # deadline (Lua 5.4; a no-op unless this very request is running).
            worker.interrupt.interrupt(ticket)

    def record_protocol_error(self, status: int, peer_ip: bytes) -> None:
        """A request refused by the parser (400/413/431 ...) still counts once."""
        self.io_metrics.request("OTHER", UNMATCHED, status, 0.0)

    def submit(self, req: Request) -> Any:
        """On the loop thread: queue a routed request. Returns None when queued (or
        waiting for room), or the 503 result when it was shed at once."""
        assert self.dispatcher is not None
        ticket = req.ticket
        self._inflight.add(ticket)
        if self._watchdog_timer is None:
            self._arm_watchdog()
        pool = self.pool
        assert pool is not None
        res = self.dispatcher.submit(req, self._backpressure, self._backpressure_timeout,
                                     self._blocked_outcome)
        if res is not Submitted.SHED:
            # Counted as pending for its generation before it can reach a worker (the
            # dispatcher hands admitted requests over at the end of this loop
            # iteration), so a swapped-out generation's runtimes are never freed
            # under a queued request.
            pool.queued(req)
        else:
            self._shed_count += 1  # see _shed_pause
            if not self._shed_since:
                self._shed_since = time.monotonic()
            result = self._shed_result(req)
            ticket.done = True
            self._inflight.discard(ticket)
            self.record(req.method, req.path, req.route, 503, req.enqueued, result[2],
                        req.request_id, req.client_ip)
            return result
        if res is Submitted.QUEUED:
            ticket.queued = True
            self.io_metrics.inc("dispatched_total")
        return None

    #: How long the server must have answered nothing for a request from another
    #: connection than the last one to find it idle (see _inline_while_idle).
    IDLE_GAP = 0.001

    #: Longest pause of the I/O thread after a loop iteration that shed requests.
    SHED_YIELD_MAX = 0.008
    #: Sheds in one loop iteration that make it a retry storm worth pausing for.
    SHED_STORM = 200
    #: The pause, as a multiple of the time the iteration spent shedding (3 and
    #: 8 ms measured better than 2 and 5 ms, or 4 and 10 ms: see
    #: docs/deadlines-and-overload.md).
    SHED_YIELD_RATIO = 3.0

    def _shed_pause(self) -> float:
        """How long the loop should sleep before its next poll (loop thread; called
        by :class:`~rover_mt.net.selector.ServingSelector`): SHED_YIELD_RATIO times
        as long as this iteration spent since its first shed request, at most
        SHED_YIELD_MAX, when it shed at least SHED_STORM requests; else 0.

        Under overload, clients that retry at once keep the I/O thread busy
        answering 503s however fast it does so; on a machine with few cores that
        takes CPU time from the workers, the only threads doing useful work, and
        the requests that were admitted wait longer. Capping the shedding at about
        a quarter of the I/O thread's time hands that CPU back to the workers; a 503
        comes back a few milliseconds later (docs/deadlines-and-overload.md).
        Sleeping *before* the poll rather than after it means whatever arrived
        during the pause is read in the very next iteration."""
        since, count = self._shed_since, self._shed_count
        if not since:
            return 0.0
        self._shed_since, self._shed_count = 0.0, 0
        if count < self.SHED_STORM:
            # Overload from clients that wait between requests sheds a few per
            # iteration: a pause would only delay the admitted requests.
            return 0.0
        return min(self.SHED_YIELD_MAX, self.SHED_YIELD_RATIO * (time.monotonic() - since))

    #: How long the I/O thread naps before it polls while the workers have plenty
    #: queued (see _nap).
    NAP_SECONDS = 0.001
    #: ... "plenty": at least this many naps' worth of work per worker.
    NAP_QUEUED_WORK = 2.0

    def _nap(self) -> float:
        """How long the loop should nap before a poll that would block (loop
        thread; called by :class:`~rover_mt.net.selector.ServingSelector`):
        NAP_SECONDS while the queue holds at least NAP_QUEUED_WORK naps of work
        per worker and is not full, else 0.

        With slow handlers (W4: 1 ms of Lua) requests arrive one by one as the
        workers answer, and the loop woke for almost every one of them (1.5
        sleeps per request, about 56 µs of the I/O thread's CPU each, taken from
        the workers on a 2-core machine). When the workers cannot start a new
        request before the nap ends anyway, reading it a millisecond later costs
        it nothing, and one wake-up reads several. During the nap the loop counts
        as asleep, so workers send their answers themselves.

        A full queue gets no nap: what is read then is shed, or admitted into a
        place just freed, and both should happen at once (W5 measured 1 ms more
        on the p99 of its 200s with the nap)."""
        pool, dispatcher = self.pool, self.dispatcher
        if pool is None or dispatcher is None:
            return 0.0
        depth = dispatcher.depth()
        if depth >= dispatcher.bound:
            return 0.0
        if depth * pool.service_average >= self.NAP_QUEUED_WORK * self.NAP_SECONDS * pool.count:
            return self.NAP_SECONDS
        return 0.0

    def _transport_failed(self, exc: BaseException, transport: Any) -> None:
        """A bug surfaced while serving one socket (loop thread): log it with its
        traceback and drop that connection; the others go on."""
        self.logger.error(f"internal error serving a connection: {exc!r}",
                          traceback="".join(traceback.format_exception(exc)))
        transport.abort()

    def _blocked_outcome(self, req: Any, queued: bool) -> None:
        """Block mode: the request got room in the queue, or ran out of time."""
        if queued:
            req.ticket.queued = True
            self.io_metrics.inc("dispatched_total")
            return
        assert self.pool is not None
        self.pool.finished(req)
        self._shed_later(req)

    def _shed_result(self, req: Request) -> tuple[int, bytes, int]:
        self.io_metrics.inc("shed_total")
        return shed_response(request_id=req.request_id, date=self.date(),
                             keep_alive=req.keep_alive and not self.closing, head_only=req.head_only)

    def _shed_later(self, req: Request) -> None:
        """Block mode ran out of time waiting for room."""
        if req.ticket.done:  # the client left (counted as 499) or it timed out
            self._inflight.discard(req.ticket)
            return
        self._answer(req.ticket, self._shed_result(req))

    def _deliver(self, ticket: Ticket, result: Any) -> None:
        """Worker thread -> loop thread (see rover_mt/inbox.py). When the loop
        sleeps, the worker sends a connection's answer itself if it can
        (HttpConnection.send_early) and wakes the loop only if it must."""
        inbox = self.inbox
        if inbox.loop_asleep():
            send_early = getattr(ticket.owner, "send_early", None)
            early = send_early(ticket, result) if send_early is not None else None
            if early is not None:
                inbox.put((ticket, early[0]), wake=early[1])
                return
        inbox.put((ticket, result))

    def _wake_for_answers(self) -> None:
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._flush_ready)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _flush_ready(self) -> None:
        ready = self.inbox.take()
        inline = self.inline
        for ticket, result in ready:
            if inline is not None and ticket.service:
                req = ticket.request
                inline.observe(req.generation.id, req.hid, ticket.service, ticket.batch)
            if not ticket.done:
                self._answer(ticket, result)
            elif ticket.sent_at and ticket in self._inflight:
                self.io_metrics.inc("sent_by_worker_total")
                self._answer(ticket, result)  # sent by the worker; the rest is done here
            else:
                self._inflight.discard(ticket)
            # A worker's answer is the last news of its ticket: break the
            # ticket <-> request cycle, so both go with their last reference
            # instead of waiting for the cyclic GC, whose young collections (one
            # every 100-200 requests on the I/O thread) then have four objects
            # less per request to walk.
            ticket.request = None

    def _answer(self, ticket: Ticket, result: Any) -> None:
        """Hand a queued request's answer to its owner; count it exactly once."""
        ticket.done = True
        if ticket.queued and self.pool is not None:
            self.pool.mark_dead(ticket)  # answered (504) while still queued
        self._inflight.discard(ticket)
        req = ticket.request
        self.record(req.method, req.path, req.route, result[0], req.enqueued, result[2],
                    req.request_id, req.client_ip, ticket.sent_at)
        ticket.owner.on_result(ticket, result)

    def swap_generation(self, gen: AppGeneration, prewarm_timeout: float = 30.0) -> None:
        """Send new requests to `gen`; queued and running ones finish on theirs.

        Call from any thread but the loop's. Every worker first builds its runtime
        for `gen` (so the first requests after the swap do not pay for it), then
        the swap itself happens on the loop thread, between two requests. Workers
        free an old generation's runtimes once none of its requests is left.
        """
        if self.loop is None or self.pool is None:
            self.generation = gen
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("swap_generation must not be called on the loop thread")
        if not self.pool.prewarm(gen, prewarm_timeout):
            self.logger.warn("reload: some workers did not build the new runtime in time; "
                             "they will build it on their next request")
        inline = self.inline
        built = inline.prepare(gen) if inline is not None and gen.engine == "lua54" else None

        def swap() -> None:
            old = self.generation
            self._live_generations.add(gen.id)
            self.generation = gen
            if inline is not None and built is not None:
                inline.install(gen, built)
            self._live_generations.discard(old.id)

        self.call_in_loop(swap)

    def timeout_response(self, req: Request) -> bytes:
        return compose(504, b'{"error":"Handler timed out"}', b"application/json", None,
                       request_id=req.request_id, date=self.pool.date.get() if self.pool else b"",
                       keep_alive=req.keep_alive and not self.closing, head_only=req.head_only)

    #: How long a worker may stay in a handler past its deadline before it is
    #: declared stuck and replaced: on Lua 5.4 the interrupt usually ends it within
    #: microseconds, so only long C calls outlast this; LuaJIT handlers cannot be
    #: interrupted, so waiting longer would only keep capacity lost.
    STUCK_GRACE = {"lua54": 0.5, "luajit": 0.1}
    WATCHDOG_INTERVAL = 0.05

    def _arm_watchdog(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            self._watchdog_timer = loop.call_later(self.WATCHDOG_INTERVAL, self._watchdog)

    def _watchdog(self) -> None:
        """Every 50 ms (loop thread) while requests are on their way to or in
        the workers: answer requests past their deadline with 504, interrupt
        their handlers, and replace workers that stay stuck anyway. With nothing
        in flight it stops (an idle server should not wake 20 times a second)
        and :meth:`submit` starts it again."""
        self._watchdog_timer = None
        loop = self.loop
        if loop is None or self.stopped and not self._inflight:
            return
        now = time.monotonic()
        for ticket in list(self._inflight):
            req = ticket.request
            if now >= req.deadline and not ticket.done:
                self.io_metrics.inc("handler_timeouts_total")
                self._answer(ticket, (504, self.timeout_response(req), 29))
        pool = self.pool
        if pool is not None:
            for w in list(pool.workers):
                cur = w.current
                if cur is None or now < cur.deadline or w.retired:
                    continue
                # Armed once per request; a no-op if it already returned.
                w.interrupt.interrupt(cur.ticket)
                if now > cur.deadline + self.STUCK_GRACE.get(cur.generation.engine, 0.5) and w.current is cur:
                    self.logger.warn("worker stuck past its deadline; replacing it",
                                     worker=w.id, route=cur.route,
                                     request_id=cur.request_id.decode("latin-1"))
                    pool.replace(w)
                    self.io_metrics.inc("worker_restarts_total")
        if self._inflight or (pool is not None and any(w.current is not None for w in pool.workers)):
            self._arm_watchdog()

    # -- callbacks from workers ------------------------------------------------
    def generation_live(self, gid: int) -> bool:
        return gid in self._live_generations

    def on_worker_restart(self, worker: Any) -> None:
        self.logger.warn("Lua runtime rebuilt after a memory error", worker=worker.id)

    def log_handler_error(self, req: Request, status: int, msg: Any, tb: Any) -> None:
        text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
        fields: dict[str, Any] = {"status": status, "route": req.route,
                                  "request_id": req.request_id.decode("latin-1")}
        if tb:
            fields["traceback"] = tb.decode("utf-8", "replace") if isinstance(tb, bytes) else str(tb)
        self.logger.error(f"handler error: {text}", **fields)

    def lua_log(self, level: bytes, request_id: Any, message: bytes) -> None:
        fn = getattr(self.logger, level.decode(), None)
        if fn is None:
            return
        fields = {}
        if request_id is not None:
            fields["request_id"] = request_id.decode("latin-1")
        fn(message.decode("utf-8", "replace"), **fields)

    # -- observability ----------------------------------------------------------
    def _register_gauges(self) -> None:
        m = self.metrics
        m.add_gauge("queue_depth", "Requests waiting in the queue.",
                    lambda: self.dispatcher.depth() if self.dispatcher else 0)
        m.add_gauge("busy_workers", "Workers running a handler.",
                    lambda: self.pool.busy if self.pool else 0)
        m.add_gauge("inflight_requests", "Requests queued or running.",
                    lambda: len(self._inflight))
        m.add_gauge("lua_memory_bytes", "Lua memory per worker runtime.",
                    self._lua_memory_by_runner,
                    labelnames=("worker",))
        m.add_counter_callback("dropped_log_records_total", "Log records dropped (buffer full).",
                               lambda: self.logger.dropped)

    def _lua_memory_by_runner(self) -> dict[tuple[str], int]:
        memory = {(str(w.id),): w.lua_memory for w in (self.pool.workers if self.pool else [])}
        if self.inline is not None:
            memory[("inline",)] = self.inline.lua_memory
        return memory

    def stuck_workers(self) -> int:
        """Workers stuck in a handler: replaced ones still running, plus active
        ones past their deadline (about to be interrupted or replaced)."""
        pool = self.pool
        if pool is None:
            return 0
        now = time.monotonic()
        active = sum(1 for w in pool.workers if (cur := w.current) is not None and now > cur.deadline)
        return pool.stuck_count() + active

    def ready(self) -> bool:
        """Whether /ready says 200: serving, and no more than max_stuck_workers stuck."""
        return (not self.closing and self.pool is not None
                and self.stuck_workers() <= self.config.max_stuck_workers)
