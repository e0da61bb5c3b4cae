"""One Lua runtime with the rover library and an app loaded: the worker's engine.

A :class:`LuaApp` is created, used and dropped by a single thread: lupa objects
never cross threads. What goes in and out of :meth:`LuaApp.respond` is bytes, ints and
frozen Python objects.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..errors import AppLoadError

ENGINES = ("lua54", "luajit")

# Field getter used by Lua's lazy ctx; receives the request object and a field name.
FieldGetter = Callable[[Any, bytes], Any]
LogFn = Callable[[bytes, Any, bytes], None]


class RequestSlots:
    """The requests the running Lua call may read, by number (ctx's lazy fields).

    Lua gets a number for each request, not the Python object: every Python
    object pushed into Lua becomes a userdata that keeps it alive until Lua's
    garbage collector frees the userdata, whose finalizer then takes the GIL
    back from inside Lua. Per request that cost about 1 µs on the I/O thread
    (W1 at 200 connections, 11.2 -> 10.2 µs of user CPU), and it kept
    thousands of finished requests (with their tickets and headers) alive.

    Numbers grow for the runtime's whole life and only the running call's
    requests answer, so a ctx kept past its request reads nil, never another
    request's fields.
    """

    __slots__ = ("_getter", "_next", "_reqs")

    def __init__(self, getter: FieldGetter) -> None:
        self._getter = getter
        self._reqs: tuple[Any, ...] | list[Any] = ()
        self._next = 1  # the number after the open requests' last

    def open(self, reqs: tuple[Any, ...] | list[Any]) -> int:
        """Make `reqs` readable; returns the number of the first (the rest follow)."""
        first = self._next
        self._next = first + len(reqs)
        self._reqs = reqs
        return first

    def close(self) -> None:
        self._reqs = ()

    def field(self, slot: Any, name: bytes) -> Any:
        """Lua's ``deps.get``: field `name` of request number `slot`, or None."""
        if type(slot) is not int:
            return None
        reqs = self._reqs
        k = slot - self._next + len(reqs)
        if 0 <= k < len(reqs):
            return self._getter(reqs[k], name)
        return None


@functools.lru_cache(maxsize=None)
def lua_source(name: str) -> bytes:
    """The text of a bundled Lua module (package data), read once per process."""
    return resources.files("rover_mt.lua").joinpath(name).read_bytes()


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    # Lua code must never reach Python objects' attributes (python.eval, __class__ ...).
    raise AttributeError("Python attribute access is not allowed from Lua")


def new_lua_runtime(engine: str, memory_limit: int = 0) -> Any:
    """A bare lupa runtime for `engine` ("lua54" or "luajit"): bytes strings, no
    Python builtins, no attribute access, and a memory cap on Lua 5.4."""
    if engine == "luajit":
        import lupa.luajit21 as lupa_mod

        return lupa_mod.LuaRuntime(
            encoding=None, register_eval=False, register_builtins=False,
            unpack_returned_tuples=True, attribute_filter=_deny_attributes,
        )
    import lupa.lua54 as lupa_mod

    kwargs: dict[str, Any] = {}
    if memory_limit:
        kwargs["max_memory"] = memory_limit
    return lupa_mod.LuaRuntime(
        encoding=None, register_eval=False, register_builtins=False,
        unpack_returned_tuples=True, attribute_filter=_deny_attributes, **kwargs,
    )


@dataclass(frozen=True, slots=True)
class AppSource:
    """The app file to load, read once so every worker loads the same text."""

    path: Path
    text: bytes

    @classmethod
    def read(cls, path: str | Path) -> "AppSource":
        p = Path(path)
        try:
            return cls(p.resolve(), p.read_bytes())
        except FileNotFoundError:
            raise AppLoadError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise AppLoadError(f"{path}: is a directory, expected a .lua file") from None
        except OSError as exc:
            raise AppLoadError(f"{path}: cannot read: {exc.strerror}") from None

    @property
    def chunkname(self) -> bytes:
        return b"@" + self.path.name.encode()


def _module_reader(app_dir: Path) -> Callable[[bytes], tuple[bytes, bytes] | None]:
    """`require "lib.users"` -> app_dir/lib/users.lua (or lib/users/init.lua)."""

    def read_module(name: Any) -> tuple[bytes, bytes] | None:
        if not isinstance(name, bytes):
            return None
        text = name.decode("utf-8", "replace")
        parts = text.split(".")
        if not text or any(not p or not all(c.isalnum() or c in "_-" for c in p) for p in parts):
            return None
        base = app_dir.joinpath(*parts)
        for candidate in (base.with_name(base.name + ".lua"), base / "init.lua"):
            if candidate.is_file():
                rel = candidate.relative_to(app_dir)
                return candidate.read_bytes(), str(rel).encode()
        return None

    return read_module


@dataclass(frozen=True, slots=True)
class LuaRoute:
    """One (template, method) handler as the Lua side declared it."""

    template: str
    method: str
    source: str
    timeout: float | None = None  # from rover.route { timeout = ... }
    index: int = 0  # 1-based position in core.route_list(), for core.route_meta(i)
    inline: bool = True  # False: rover.route { inline = false } (never on the I/O thread)


class LuaApp:
    """A Lua runtime with rover and the app loaded. Single-thread use only."""

    def __init__(
        self,
        source: AppSource,
        *,
        engine: str = "lua54",
        memory_limit: int = 0,
        worker_id: int = 0,
        worker_count: int = 1,
        expose_errors: bool = True,
        get_field: FieldGetter | None = None,
        shared_call: Callable[..., Any] | None = None,
        log: LogFn | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.lua = lua = new_lua_runtime(engine, memory_limit)
        self.prelude = prelude = self._run_chunk(lua_source("prelude.lua"), b"@rover/prelude.lua",
                                  _module_reader(source.path.parent))
        compile_fn = prelude[b"compile"]
        modules = {}
        for name in ("json", "guard", "html"):
            deps = lua.table_from({b"json": modules.get("json")}) if name != "json" else None
            modules[name] = self._load_module(compile_fn, name, deps)
        shared_factory = self._load_module(compile_fn, "shared", None)
        # A holder rather than a bound method: Lua keeps `get` alive, and a method
        # would tie this object and its runtime into a cycle.
        self._slots = slots = RequestSlots(get_field or _no_field)
        deps = lua.table_from({
            b"json": modules["json"], b"guard": modules["guard"], b"html": modules["html"],
            b"shared": shared_factory(shared_call or _no_shared),
            b"get": slots.field,
            b"sethook": prelude[b"sethook"], b"traceback": prelude[b"traceback"],
            b"compile": compile_fn, b"globals": prelude[b"globals"],
            b"log": log or _no_log, b"worker_id": worker_id, b"worker_count": worker_count,
            b"expose_errors": expose_errors, b"reasons": lua.table_from(_REASONS),
        })
        setup = self._run_chunk(lua_source("rover.lua"), b"@rover/rover.lua")
        self.core = core = setup(deps)
        prelude[b"set_app_env"](core[b"env"])
        g = lua.globals()
        g[b"rover"] = core[b"rover"]
        preload = g[b"package"][b"preload"]
        json_mod = modules["json"]
        new_cjson = json_mod[b"new_cjson"]
        preload[b"cjson"] = lua.eval("function(m) return function() return m end end")(new_cjson(False))
        preload[b"cjson.safe"] = lua.eval("function(m) return function() return m end end")(new_cjson(True))
        self.config = self._load_app(source)
        self._respond = core[b"respond"]
        self._respond_batch = core[b"respond_batch"]

    def _run_chunk(self, text: bytes, name: bytes, *args: Any) -> Any:
        # One return value only: the sandbox's loadstring returns (fn, nil).
        loader = self.lua.eval("function(s, n) local f = assert(load(s, n, 't')); return f end") \
            if self.engine == "lua54" else \
            self.lua.eval("function(s, n) local f = assert(loadstring(s, n)); return f end")
        return loader(text, name)(*args)

    def _load_module(self, compile_fn: Any, name: str, deps: Any) -> Any:
        chunk = compile_fn(lua_source(f"{name}.lua"), f"@rover/{name}.lua".encode(), None)
        return chunk(deps)

    def _load_app(self, source: AppSource) -> dict[str, Any]:
        # Each lupa engine module has its own LuaError class.
        LuaError = sys.modules[type(self.lua).__module__].LuaError
        try:
            config = self.core[b"load_app"](source.text, source.chunkname)
        except LuaError as exc:
            raise AppLoadError(_lua_error_text(exc)) from None
        return lua_to_python(config)

    def routes(self) -> list[LuaRoute]:
        """The app's routes as (template, method, source), in a stable order."""
        out = []
        for i, row in self.core[b"route_list"]().items():
            timeout = row[4] if row[4] is not False else None
            out.append(LuaRoute(row[1].decode(), row[2].decode(), row[3].decode(), timeout, i,
                                inline=not row[5]))
        return out

    def bind(self, hid: int, template: str, method: str, param_names: tuple[str, ...]) -> None:
        """Attach handler id `hid` to the app's handler for (template, method)."""
        names = self.lua.table_from([n.encode() for n in param_names])
        self.core[b"bind"](hid, template.encode(), method.encode(), names)

    def respond(self, hid: int, request: Any, request_id: bytes, date: bytes,
                keep_alive: bool, head_only: bool, params: tuple[bytes, ...],
                body: bytes | None | bool = False) -> tuple:
        """Run a handler and encode its HTTP/1.1 response in Lua (no GIL held):
        (status, response_bytes, body_length, log_msg, traceback).

        `request` is what ctx's lazy fields are read from (through the getter
        given at construction), during this call only. `body` is the request
        body handed over with the call (None: the request has none), or False
        to let ``ctx:body()`` fetch it from `request` if the handler asks; see
        :func:`eager_body`."""
        slots = self._slots
        slot = slots.open((request,))
        try:
            return self._respond(hid, slot, request_id, date, keep_alive, head_only, body, *params)
        finally:
            slots.close()

    def respond_batch(self, reqs: list[Any], date: bytes, args: list[Any]) -> tuple:
        """Run the requests `reqs` in one Lua call (rover.lua, ``core.respond_batch``):
        `args` holds per request hid, request id, keep-alive, head-only, body (as
        in :meth:`respond`), the number of path parameters and the parameters.
        Returns five values per request, as :meth:`respond`, with None for no
        log message or traceback and a response of False for a request
        interrupted before it started."""
        slots = self._slots
        first = slots.open(reqs)
        try:
            return self._respond_batch(len(reqs), date, first, *args)
        finally:
            slots.close()

    def memory_used(self) -> int:
        try:
            return int(self.lua.get_memory_used() or 0)
        except Exception:  # LuaJIT runtimes do not track memory
            return 0


#: Bodies up to this size go to Lua with the handler call: fetching one later,
#: from inside Lua, takes the GIL back mid-handler, and on a busy server every
#: such hand-over of the GIL between threads costs a wake-up. Larger bodies are
#: fetched only if the handler reads them (a copy into Lua for nothing, and
#: against the runtime's memory limit, would cost more).
EAGER_BODY_BYTES = 64 * 1024


def eager_body(body: bytes | None) -> bytes | None | bool:
    """What :meth:`LuaApp.respond` gets as `body` for a request's body."""
    if body is None or len(body) <= EAGER_BODY_BYTES:
        return body
    return False


# Reason phrases for status lines encoded in Lua (rover.lua core.respond).
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def _no_field(req: Any, name: bytes) -> None:
    return None


def _no_shared(*args: Any) -> tuple:
    return (None, b"rover.shared is not available here")


def _no_log(level: bytes, rid: Any, msg: bytes) -> None:
    return None


def _lua_error_text(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if isinstance(exc.args[0] if exc.args else None, bytes):
        text = exc.args[0].decode("utf-8", "replace")
    # lupa appends a Lua traceback after the message; operators get one line.
    return text.split("\nstack traceback:")[0].strip()


def lua_to_python(value: Any) -> Any:
    """Convert a Lua value (tables recursively) to plain Python; strings to str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        items = list(value.items())
    except AttributeError:
        return value
    keys = [k for k, _ in items]
    if keys and all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
        return [lua_to_python(v) for _, v in sorted(items)]
    return {lua_to_python(k) if isinstance(k, bytes) else k: lua_to_python(v) for k, v in items}
