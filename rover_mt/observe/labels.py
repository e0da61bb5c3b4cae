"""Label vocabulary shared by every metrics module: bounded values only.

Prometheus keeps one time series per distinct label set, so every label value that
can come from a client must be folded into a small, fixed vocabulary here.
"""

from __future__ import annotations

#: ``route`` label of requests that matched no route (404s, malformed targets...).
#: One shared value, so random paths cannot create new series.
UNMATCHED_ROUTE = "<unmatched>"

#: ``route`` label used once ``max_routes`` distinct templates have been seen.
OVERFLOW_ROUTE = "<other>"

#: ``method`` label of any method token not in :data:`KNOWN_METHODS`.
OTHER_METHOD = "OTHER"

#: Methods kept as their own label value; anything else becomes :data:`OTHER_METHOD`.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)

#: ``status`` to record for a request whose client went away before any response
#: was written (nginx's convention), so such requests are still counted once.
CLIENT_CLOSED_STATUS = 499

#: Upper bounds (seconds) of the latency histogram buckets; ``+Inf`` is implied.
#: Fixed so that recording is a binary search over a constant tuple.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

#: Counters every :class:`~rover_mt.observe.metrics.Metrics` declares up front (name
#: without namespace -> help). They are exported as 0 before the first increment so
#: dashboards and alerts see them from the start.
DEFAULT_COUNTERS: dict[str, str] = {
    "shed_total": "Requests answered 503 because the worker queue was full (or, with queue_timeout, "
                  "because they waited in it too long).",
    "queue_expired_total": "Requests answered 503 by a worker because they waited longer than queue_timeout.",
    "worker_restarts_total": "Worker threads replaced after getting stuck or losing their runtime.",
    "handler_timeouts_total": "Requests answered 504 because the handler ran past its deadline.",
    "dispatched_total": "Requests handed to the worker queue.",
    "completed_total": "Requests a worker finished (any outcome).",
    "inline_total": "Requests whose handler ran on the I/O thread (direct execution).",
    "inline_idle_total": "Requests whose handler ran on the I/O thread only because nothing else was "
                         "waiting or running (a handler over inline_handler_us, under 10 times it).",
    "batched_total": "Requests a worker ran in a batch: several requests of one fast handler in one Lua call.",
    "inline_batched_total": "Requests the I/O thread ran in a batch: several requests of one inline handler, "
                            "read in one loop iteration, in one Lua call.",
    "sent_by_worker_total": "Answers a worker sent to the client itself, because the I/O thread was asleep.",
}
