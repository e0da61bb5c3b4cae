"""Asynchronous handler interruption for Lua 5.4 runtimes.

While handlers run normally no Lua hook is active (any hook puts the Lua 5.4 VM
in trap mode and makes every instruction slower). When a request's deadline
passes, or its client goes away, the watchdog on the I/O thread calls
:meth:`WorkerInterrupt.interrupt`, which installs a count-1 hook with
``lua_sethook`` on the worker's running Lua threads *from the I/O thread*. The
Lua manual allows ``lua_sethook`` to be called asynchronously (``lua.c`` calls it
from a signal handler for the same purpose). The hook is ldblib's own C hook,
whose address is read once with ``lua_gethook``; it calls the Lua function that
``rover.lua`` registered for each thread (``deadline_hook``), which raises the
TIMEOUT sentinel until the handler has unwound.

Safety rules, enforced with one lock per worker:

* Hooks are installed only while the worker is inside the very request the
  watchdog means (``begin``/``end`` bracket every handler call under the lock),
  so a hook can never be armed for a later request.
* Every address handed to ``lua_sethook`` is a live ``lua_State``: the main
  thread lives as long as its runtime, which is only dropped between requests;
  coroutines are kept referenced by Lua until the next request starts, after
  ``end`` has forgotten their addresses.
* A hook armed in a race with the handler's return is harmless (the Lua side
  only raises while the handler runs) and is removed by ``end`` on the worker's
  own thread before the next request.

LuaJIT runtimes are not hooked (compiled traces never call hooks); their stuck
workers are replaced instead (see :mod:`rover_mt.worker.pool`).
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from typing import Any

LUA_MASKCOUNT = 1 << 3
# Count given while reading the hook's address: never reached in between the two
# calls that bracket it, so the hook never runs during setup.
_SETUP_COUNT = 1 << 30
_NO_TOKENS: frozenset[Any] = frozenset()


class LuaHookApi:
    """ctypes bindings to the Lua C API functions the interrupt needs.

    lupa links Lua into its extension module and exports the C API, so the
    functions are looked up in that module's shared object.
    """

    def __init__(self, module_file: str) -> None:
        lib = ctypes.CDLL(module_file)
        self.sethook = lib.lua_sethook
        self.sethook.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.sethook.restype = None
        self.gethook = lib.lua_gethook
        self.gethook.argtypes = [ctypes.c_void_p]
        self.gethook.restype = ctypes.c_void_p
        self.gethookmask = lib.lua_gethookmask
        self.gethookmask.argtypes = [ctypes.c_void_p]
        self.gethookmask.restype = ctypes.c_int


@functools.lru_cache(maxsize=None)
def hook_api(engine: str) -> LuaHookApi | None:
    """The bindings for `engine`, or None when it cannot be interrupted (LuaJIT)."""
    if engine != "lua54":
        return None
    import lupa.lua54 as lupa_mod

    return LuaHookApi(lupa_mod.__file__)


def thread_address(text: bytes | str) -> int:
    """The lua_State address in ``tostring(thread)`` ("thread: 0x55d0c3a0")."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    return int(text.rpartition(" ")[2], 16)


class RuntimeHook:
    """What interrupting one runtime needs: its main thread and the C hook."""

    __slots__ = ("main", "hookf")

    def __init__(self, main: int, hookf: int) -> None:
        self.main = main
        self.hookf = hookf


class WorkerInterrupt:
    """Per-worker switch between the worker thread and the watchdog.

    The worker calls :meth:`attach` once per runtime it builds and brackets each
    handler call with :meth:`begin` / :meth:`end`; the watchdog (any thread)
    calls :meth:`interrupt`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: Any = None  # the request running now, or None
        # A batch running now (Requests, in order), and the tickets of its
        # requests that were interrupted; see begin().
        self._batch: tuple[Any, ...] | None = None
        self._batch_tokens: frozenset[Any] = _NO_TOKENS
        self._wanted: set[Any] = set()
        self._runtime: RuntimeHook | None = None
        self._threads: list[int] = []  # coroutine states the request resumed
        self._api: LuaHookApi | None = None
        self.armed = False
        self.interrupts = 0  # how many requests were interrupted (for tests/metrics)

    def attach(self, app: Any) -> RuntimeHook | None:
        """Prepare a freshly built LuaApp (on its worker thread); None on LuaJIT."""
        api = hook_api(app.engine)
        if api is None:
            return None
        core = app.core
        text = core[b"interrupt_attach"](self._register, _SETUP_COUNT, self._should_stop)
        if text is None:
            return None
        main = thread_address(text)
        hookf = api.gethook(main)
        core[b"interrupt_ready"]()
        if not hookf or api.gethookmask(main) != 0:
            raise RuntimeError("could not read the Lua debug hook's address")
        self._api = api
        return RuntimeHook(main, hookf)

    def begin(self, token: Any, runtime: RuntimeHook | None,
              batch: tuple[Any, ...] | None = None) -> None:
        """The worker is about to run `token`'s handler on `runtime`, or with
        `batch` (Requests), the handlers of a whole batch in one Lua call. Python
        cannot tell which request of a batch runs, so an interrupt of any of them
        arms the hook for the batch, and the Lua hook asks :meth:`_should_stop`
        whether the request it caught is one that must stop. A batch of one is
        a lone request: only it can have armed the hook, so the hook stops it
        without asking (and no set of tickets is built: for a lone client every
        inline request is a batch of one, and the set cost it 2 µs of 40)."""
        with self._lock:
            self._token = token
            self._runtime = runtime
            self.armed = False
            if batch is not None and len(batch) > 1:
                self._batch = batch
                self._batch_tokens = frozenset(r.ticket for r in batch)

    def end(self) -> None:
        """The handler returned (worker thread): disarm and forget its threads."""
        with self._lock:
            if self.armed and self._runtime is not None:
                # On the worker's own thread, with Lua idle: plainly safe.
                self._set_all(None, 0, 0)
            self.armed = False
            self._token = None
            self._runtime = None
            self._threads.clear()
            if self._batch is not None:
                self._batch = None
                self._batch_tokens = _NO_TOKENS
                self._wanted.clear()

    def interrupt(self, token: Any) -> bool:
        """Interrupt `token`'s handler if it is the one running; True if armed now."""
        with self._lock:
            rt = self._runtime
            if rt is None:
                return False
            if self._batch is not None:
                # The Lua hook disarms itself when it catches another request of
                # the batch, so arm it again for each interrupt.
                if token not in self._batch_tokens:
                    return False
                self._wanted.add(token)
            elif self._token is not token or self.armed:
                return False
            self.armed = True
            self.interrupts += 1
            self._set_all(rt.hookf, LUA_MASKCOUNT, 1)
            return True

    def running(self, token: Any) -> bool:
        """Whether `token` is the request this worker is running (or one of its batch)."""
        return self._token is token or token in self._batch_tokens

    def _should_stop(self, index: int) -> bool:
        # Called from Lua (worker thread), only while a batch runs and only after
        # the hook fired: must request `index` (1-based) of the batch stop? Yes
        # if it was interrupted, or if its own deadline has passed.
        with self._lock:
            batch = self._batch
            if batch is None or not 1 <= index <= len(batch):
                return True
            req = batch[index - 1]
            return req.ticket in self._wanted or time.monotonic() >= req.deadline

    def _register(self, text: bytes) -> None:
        # Called from Lua (worker thread) when the request resumes a coroutine.
        addr = thread_address(text)
        with self._lock:
            if self._runtime is None:
                return
            self._threads.append(addr)
            if self.armed:
                self._api.sethook(addr, self._runtime.hookf, LUA_MASKCOUNT, 1)  # type: ignore[union-attr]

    def _set_all(self, hookf: int | None, mask: int, count: int) -> None:
        api = self._api
        rt = self._runtime
        assert api is not None and rt is not None
        api.sethook(rt.main, hookf, mask, count)
        for addr in self._threads:
            api.sethook(addr, hookf, mask, count)
