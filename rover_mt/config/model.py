"""The ``Config`` dataclass: the one place where every setting is defined.

Each field's default and metadata (help, range, unit, group) is the single
definition of a setting. ``SETTINGS`` is read from these fields, and from it come
the environment variables, the command-line flags, the validation and the docs
table; no other file lists the settings.

(No ``from __future__ import annotations`` here: the field annotations must stay
real types, because they are the settings' types.)
"""

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from . import checks
from .setting import Check, ConfigError, Setting, env_name, flag_name
from .sources import ARGUMENT_SOURCE, DEFAULT_SOURCE, check_combinations, resolve_values
from .values import coerce

_META_KEY = "rover_mt.setting"

KIB = 1024
MIB = 1024**2
GIB = 1024**3

# Group headings, in the order the docs and --help show them.
SERVER = "Server"
QUEUE = "Workers, queue and overload"
TIMEOUTS = "Timeouts"
LIMITS = "HTTP limits"
LUA = "Lua runtime"
LOGGING = "Logging"
ENDPOINTS = "Errors and built-in endpoints"
PROXY = "Proxies"


def _usable_cpus() -> int:
    # The CPUs this process may run on (container / taskset limits), which can be
    # fewer than os.cpu_count() reports for the whole machine.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _setting(
    default: Any,
    help: str,
    *,
    group: str,
    unit: str = "",
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
    aliases: Mapping[str, str] | None = None,
    check: Check | None = None,
    default_doc: str | None = None,
    allowed_doc: str | None = None,
) -> Any:
    """A dataclass field carrying the description of one setting in its metadata."""
    meta = {
        "help": help,
        "group": group,
        "unit": unit,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "choices": choices,
        "aliases": tuple(sorted((aliases or {}).items())),
        "check": check,
        "default_doc": default_doc,
        "allowed_doc": allowed_doc,
    }
    return field(default=default, metadata={_META_KEY: meta})


def _timeout(default: float, help: str, *, max: float = 3600.0, allow_zero: bool = False) -> Any:
    return _setting(
        default, help, group=TIMEOUTS, unit="seconds", min=0.0, max=max, min_exclusive=not allow_zero
    )


def _path(default: str, help: str) -> Any:
    return _setting(default, help, group=ENDPOINTS, check=checks.url_path, allowed_doc="path starting with `/`")


@dataclass(frozen=True, slots=True)
class Config:
    """Every server setting, typed and validated.

    Build one with :meth:`resolve` (defaults < app < environment < flags), or
    directly (``Config(port=0)``), which validates too. Instances are immutable;
    :meth:`replace` returns a validated copy.
    """

    # --- Server -------------------------------------------------------------
    host: str = _setting(
        "127.0.0.1",
        "Address to listen on. `localhost` means `127.0.0.1`; use `::` or `0.0.0.0` to listen on all interfaces.",
        group=SERVER,
        check=checks.host,
        allowed_doc="host name or IP address",
    )
    port: int = _setting(
        4242, "TCP port to listen on. `0` picks a free port; the banner prints the real one.",
        group=SERVER, min=0, max=65535,
    )
    processes: int = _setting(
        1, "Number of server processes, each with its own I/O thread and `workers` Lua workers.",
        group=SERVER, min=1, max=256,
    )
    http: str = _setting(
        "auto", "HTTP/1.1 parser: `h11`, `httptools` (faster, CPython only), or `auto` (httptools when installed).",
        group=SERVER, choices=("auto", "h11", "httptools"),
    )
    reload: bool = _setting(
        False,
        "Watch `*.lua` files under the app's folder and swap in the new app on change, without dropping "
        "connections.",
        group=SERVER,
    )

    # --- Workers, queue and overload ----------------------------------------
    workers: int = _setting(
        max(2, _usable_cpus()), "Number of worker threads, each with its own Lua runtime.",
        group=QUEUE, min=1, max=1024, default_doc="number of CPUs, at least 2",
    )
    queue_bound: int = _setting(
        256,
        "Most requests waiting for a worker. A fixed number rather than a multiple of `workers`, so the "
        "wait a queued request can face stays short and predictable: a full queue sheds load (503) "
        "instead of letting requests queue past their deadline.",
        group=QUEUE, min=1, max=1_000_000,
    )
    backpressure: str = _setting(
        "block",
        "When the queue is full: `block` waits up to `backpressure_timeout_ms` for room, then sheds; "
        "`shed` answers 503 at once.",
        group=QUEUE, choices=("block", "shed"),
    )
    backpressure_timeout_ms: int = _setting(
        100, "How long a request may wait for room in a full queue before it is shed (`backpressure = block`).",
        group=QUEUE, unit="ms", min=0, max=60_000,
    )
    queue_timeout: float = _setting(
        0.0,
        "Longest a request may wait for a worker, counted from when it was read. A worker that reaches an "
        "older request answers it 503 at once instead of running it, as a full queue would (HAProxy's "
        "`timeout queue`). Under overload this bounds how long the requests that *are* served wait, "
        "which `queue_bound` alone cannot when the workers slow down. `0`: no limit.",
        group=QUEUE, unit="seconds", min=0.0, max=3600.0,
    )
    max_stuck_workers: int = _setting(
        1, "`/ready` answers 503 once more than this many workers are stuck in handlers that could not be interrupted (0: any stuck worker).",
        group=QUEUE, min=0, max=1024,
    )

    inline_handler_us: int = _setting(
        15,
        "Direct execution: a handler whose recent runs averaged under this many microseconds runs on "
        "the I/O thread itself instead of a worker, saving two thread hand-offs per request. A run's "
        "time leaves out what a call of a handler that does nothing costs on this machine (measured "
        "when the runtime is built). Slower "
        "handlers, bodies over 8 KiB and LuaJIT apps always use the workers (where fast handlers run "
        "in batches). `0` turns it off, and batching with it. See docs/server-behavior.md, "
        "\"Direct execution\".",
        group=QUEUE, unit="µs", min=0, max=100_000,
    )

    # --- Timeouts -----------------------------------------------------------
    handler_timeout: float = _timeout(
        30.0,
        "Request deadline; past it the client gets 504 and, on `lua54`, the handler is interrupted.",
        max=86_400.0,
    )
    graceful_timeout: float = _timeout(
        30.0,
        "On stop, how long in-flight and queued requests may take before the server exits anyway. `0` stops "
        "at once.",
        allow_zero=True,
    )
    keepalive_timeout: float = _timeout(5.0, "Idle keep-alive connections are closed after this long.")
    header_timeout: float = _timeout(10.0, "Time from a request's first byte until its headers must be complete.")
    body_timeout: float = _timeout(10.0, "Longest pause allowed while a request body is being received.")
    send_timeout: float = _timeout(30.0, "Longest time a response may wait for a client that does not read it.")
    body_min_rate: int = _setting(
        1024,
        "Slowest average request-body rate accepted once a body has been arriving for `body_timeout`; slower "
        "uploads are closed (slow-body attacks). `0` turns the check off.",
        group=TIMEOUTS, unit="bytes/s", min=0, max=1 * GIB,
    )

    # --- HTTP limits --------------------------------------------------------
    max_body_size: int = _setting(
        1 * MIB, "Largest request body; larger ones get 413 (before the body is read when Content-Length says so).",
        group=LIMITS, unit="bytes", min=0, max=1 * GIB,
    )
    max_request_line: int = _setting(
        8 * KIB, "Longest request line (method, target, version); longer ones get 414.",
        group=LIMITS, unit="bytes", min=64, max=1 * MIB,
    )
    max_header_line: int = _setting(
        8 * KIB, "Longest single header line; longer ones get 431. Must not exceed `max_header_bytes`.",
        group=LIMITS, unit="bytes", min=64, max=1 * MIB,
    )
    max_headers: int = _setting(
        100, "Most header fields in one request; more get 431.",
        group=LIMITS, min=1, max=10_000,
    )
    max_header_bytes: int = _setting(
        32 * KIB, "Largest header section of one request; larger ones get 431.",
        group=LIMITS, unit="bytes", min=64, max=16 * MIB,
    )
    max_connections: int = _setting(
        10_000, "Most open client connections; beyond it the server stops accepting until one closes.",
        group=LIMITS, min=1, max=1_000_000,
    )
    max_output_buffer: int = _setting(
        1 * MIB, "Unsent response bytes per connection above which the server stops reading more requests from it.",
        group=LIMITS, unit="bytes", min=1 * KIB, max=1 * GIB,
    )

    # --- Lua runtime --------------------------------------------------------
    lua: str = _setting(
        "lua54",
        "Lua engine. `lua54` (Lua 5.4): memory limit, interruptible handlers, clean errors. `luajit` (LuaJIT 2.1): "
        "faster, but no memory limit and compiled loops cannot be interrupted (a stuck worker is replaced instead). "
        "Also accepted: `lua5.4`, `5.4`, `jit`.",
        group=LUA, choices=("lua54", "luajit"),
        aliases={
            "lua5.4": "lua54", "5.4": "lua54", "54": "lua54",
            "jit": "luajit", "luajit2.1": "luajit", "luajit21": "luajit",
        },
    )
    lua_memory_limit: int = _setting(
        256 * MIB,
        "Memory cap of each worker's Lua runtime (`lua54` only; ignored by `luajit`). `0` means no limit; "
        "otherwise at least 1 MiB.",
        group=LUA, unit="bytes", min=0, max=1024 * GIB, check=checks.memory_limit,
    )

    # --- Logging ------------------------------------------------------------
    log_level: str = _setting(
        "info", "Least severe log level shown; `nope` silences logging. `warning` is accepted for `warn`.",
        group=LOGGING, choices=("debug", "info", "warn", "error", "nope"), aliases={"warning": "warn"},
    )
    log_format: str = _setting(
        "text", "Log line format: `text` for people, `json` (one object per line) for log collectors.",
        group=LOGGING, choices=("text", "json"),
    )
    access_log: bool = _setting(True, "Log one line per request.", group=LOGGING)
    log_sample_rate: float = _setting(
        1.0,
        "Fraction of access-log and info records kept, decided per record. `0` keeps only warnings and "
        "errors, which are never dropped.",
        group=LOGGING, min=0.0, max=1.0,
    )

    # --- Errors and built-in endpoints --------------------------------------
    expose_errors: bool = _setting(
        True,
        "Send the Lua error message in 500 bodies; when off they say `Internal Server Error` (the log has "
        "the details either way).",
        group=ENDPOINTS,
    )
    docs: bool = _setting(True, "Serve the OpenAPI document and the offline docs page.", group=ENDPOINTS)
    docs_path: str = _path("/docs", "Path of the docs page.")
    openapi_path: str = _path("/openapi.json", "Path of the OpenAPI document.")
    metrics: bool = _setting(True, "Serve Prometheus metrics.", group=ENDPOINTS)
    metrics_path: str = _path("/metrics", "Path of the Prometheus metrics.")
    health_path: str = _path("/health", "Path of the liveness check (200 while the process runs).")
    ready_path: str = _path(
        "/ready", "Path of the readiness check (503 while the app is not loaded or too many workers are stuck)."
    )

    # --- Proxies ------------------------------------------------------------
    proxy_headers: bool = _setting(
        False, "Take the client address from `X-Forwarded-For` when the peer is a trusted proxy (the standard `Forwarded` header is not read, as in uvicorn).",
        group=PROXY,
    )
    forwarded_allow_ips: str = _setting(
        "127.0.0.1",
        "Trusted proxies for `proxy_headers`: comma list of IP addresses or networks (`10.0.0.0/8`), "
        "or `*` for any.",
        group=PROXY, check=checks.ip_list, allowed_doc="IP addresses or networks, comma-separated, or `*`",
    )

    def __post_init__(self) -> None:
        # Direct construction (Config(port=...)) is checked like any other source;
        # values from resolve() are already canonical, so this changes nothing there.
        values = {}
        for s in SETTINGS:
            value = coerce(s, getattr(self, s.name), ARGUMENT_SOURCE)
            object.__setattr__(self, s.name, value)
            values[s.name] = value
        origins = {s.name: ARGUMENT_SOURCE if values[s.name] != s.default else DEFAULT_SOURCE for s in SETTINGS}
        check_combinations(values, origins)

    @classmethod
    def resolve(
        cls,
        *,
        app: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        app_source: str | None = None,
    ) -> "Config":
        """Merge the sources, later ones winning: default < app < env < flags.

        ``app``: options from ``rover.server{...}`` (Python values converted from
        Lua; unknown names are an error). ``env``: environment variables; only
        ``ROVER_MT_<NAME>`` keys are read, and ``None`` reads none (pass
        ``os.environ`` explicitly). ``flags``: values from argparse, where ``None``
        means "not given". ``app_source`` (e.g. the app's file name) is quoted in
        errors. A string is parsed like an environment variable from any source.
        Raises :class:`ConfigError` for the first bad value.
        """
        return cls(**resolve_values(SETTINGS, app=app, env=env, flags=flags, app_source=app_source))

    def replace(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied and validated; unknown names raise ConfigError."""
        unknown = sorted(set(changes) - {s.name for s in SETTINGS})
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}", setting=unknown[0], source=ARGUMENT_SOURCE)
        return dataclasses.replace(self, **changes)


def _settings_of(config_class: type) -> tuple[Setting, ...]:
    """Read each setting's description from the config class's fields."""
    result = []
    for f in fields(config_class):
        meta = f.metadata[_META_KEY]
        result.append(
            Setting(
                name=f.name,
                type=f.type,  # type: ignore[arg-type]  # a real class: no postponed annotations here
                default=f.default,
                env=env_name(f.name),
                flag=flag_name(f.name),
                **meta,
            )
        )
    return tuple(result)


#: Every setting, in the order the docs and ``--help`` list them within a group.
SETTINGS: tuple[Setting, ...] = _settings_of(Config)
