"""What crosses from the I/O thread to a worker: one frozen, complete request.

A worker never sees a socket or a parser. It gets a :class:`Request`, runs the
handler and hands the result back through the request's :class:`Ticket`, which
belongs to the I/O side and tells the worker whether anyone is still waiting.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Ticket:
    """The I/O side's handle on one queued request.

    ``done`` is set by the I/O thread when the answer no longer matters (the client
    left, or a 504 was already sent); a worker checks it before running the handler.
    ``deliver`` is called from the worker thread with the encoded response.
    """

    __slots__ = ("deliver", "done", "started", "worker", "owner", "request", "queued", "dead",
                 "service", "batch", "sent_at")

    def __init__(self, deliver: Callable[["Ticket", Any], None], owner: Any) -> None:
        self.deliver = deliver
        self.owner = owner  # the connection (or App call) that gets the result
        self.done = False
        self.started = 0.0  # monotonic time a worker picked it up; 0 while queued, -1 if skipped
        self.queued = False  # admitted to the queue (loop thread sets it)
        self.dead = False  # done while still queued: counted in WorkerPool.dead_queued
        self.worker: Any = None
        self.request: Any = None  # set once the Request is built
        # CPU seconds the worker's handler took, when measured (worker/runner.py,
        # execute_timed); set before deliver.
        self.service: float | None = None
        # How many requests shared the Lua call that `service` is a share of.
        self.batch = 1
        # Monotonic time the worker sent the answer itself (0.0: the loop sends it).
        self.sent_at = 0.0


class Request(NamedTuple):
    """A complete HTTP request, routed, ready for a Lua handler.

    Immutable. A NamedTuple rather than a frozen dataclass because one is built
    per request on the I/O thread: 0.4 µs instead of 2.3 µs (frozen dataclasses
    set each field through object.__setattr__).
    """

    hid: int  # handler id (route x method), identical in every worker of a generation
    generation: Any  # the AppGeneration whose runtimes must run it
    method: str
    path: str  # raw path, not decoded
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None
    route: str  # matched template, e.g. "/users/{id}"
    params: tuple[bytes, ...]  # decoded values in template order, UTF-8
    request_id: bytes
    client_ip: bytes
    keep_alive: bool
    head_only: bool
    enqueued: float  # monotonic
    deadline: float  # monotonic
    ticket: Ticket


def header_blob(headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """Headers as "name:value" lines, the form Lua's ctx:headers() parses lazily."""
    return b"\n".join([name + b":" + value for name, value in headers])


def request_field(req: Any, name: bytes) -> Any:
    """Lua's lazy ctx fetches fields through this; only Requests are accepted."""
    if type(req) is not Request:
        return None
    if name == b"headers":
        return header_blob(req.headers)
    if name == b"query":
        return req.query
    if name == b"body":
        return req.body
    if name == b"request_id":
        return req.request_id
    if name == b"client_ip":
        return req.client_ip
    if name == b"method":
        return req.method.encode("latin-1")
    if name == b"path":
        return req.path.encode("latin-1")
    return None
