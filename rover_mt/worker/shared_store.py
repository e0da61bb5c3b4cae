"""The store behind ``rover.shared``: named dictionaries shared by all workers.

One :class:`SharedStore` belongs to one server (no module-level state, so two
servers in one process keep separate stores). It holds named dictionaries,
created on first use. Every operation on a dictionary is atomic under that
dictionary's lock, so it is safe from any worker thread and from any thread
of an embedding program, with or without a GIL.

Values are scalars only: ``bytes`` (``str`` is stored as UTF-8 bytes),
``int``, ``float`` and ``bool``. Keys are bytes (``str`` keys are encoded).
A TTL is in seconds, measured with :func:`time.monotonic`; expired entries
are dropped lazily when touched, and by an occasional sweep on writes.

Lua reaches the store through :meth:`SharedStore.call`, which always returns
a tuple so that lupa (``unpack_returned_tuples=True``) hands Lua multiple
values, as OpenResty's ``ngx.shared.DICT`` methods do (``keys`` is packed
into one string, see :func:`_pack_keys`).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, Union

Scalar = Union[bytes, int, float, bool]
KeyLike = Union[bytes, str, int, float]

# Writes between two full sweeps of expired entries in one dictionary.
_SWEEP_EVERY = 1024
_DEFAULT_KEYS_MAX = 1024


def _key_bytes(key: KeyLike) -> bytes:
    """Normalise a key to bytes (Lua strings arrive as bytes already)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bool):
        raise TypeError("shared dict key must be a string or number, got bool")
    if isinstance(key, int):
        return str(key).encode("ascii")
    if isinstance(key, float):
        # 3.0 and 3 name the same key, as they do in Lua tables.
        if key.is_integer():
            return str(int(key)).encode("ascii")
        return repr(key).encode("ascii")
    raise TypeError(f"shared dict key must be a string or number, got {type(key).__name__}")


def _value(value: object) -> Scalar:
    """Validate and normalise a value to one of the stored scalar types."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bool, int, float)):
        return value
    raise TypeError(
        f"shared dict value must be a string, number, boolean or None, got {type(value).__name__}"
    )


def _expiry(ttl: float | None, now: float) -> float | None:
    """Absolute deadline for a TTL in seconds; None or 0 mean no expiry."""
    if ttl is None or ttl == 0:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or math.isnan(ttl) or ttl < 0:
        raise ValueError(f"ttl must be a number of seconds >= 0, got {ttl!r}")
    return now + ttl


def _pack_keys(keys: list[bytes]) -> bytes:
    """Keys as one string of ``<length>:<bytes>`` items, unpacked by shared.lua.

    One value instead of a tuple of keys: Lua limits how many values a call
    may return (LuaJIT to a few thousand), and keys are arbitrary bytes, so
    no separator would do.
    """
    return b"".join(b"%d:%s" % (len(k), k) for k in keys)


class SharedDict:
    """One named dictionary. Every public method is atomic.

    ``clock`` is injectable so TTL behaviour can be tested without sleeping.
    """

    def __init__(self, name: bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, deadline or None)
        self._data: dict[bytes, tuple[Scalar, float | None]] = {}
        self._writes = 0

    # -- helpers, called with the lock held -------------------------------

    def _live(self, key: bytes, now: float) -> tuple[Scalar, float | None] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        deadline = entry[1]
        if deadline is not None and deadline <= now:
            del self._data[key]
            return None
        return entry

    def _store(self, key: bytes, value: Scalar, deadline: float | None, now: float) -> None:
        self._data[key] = (value, deadline)
        self._writes += 1
        if self._writes >= _SWEEP_EVERY:
            self._writes = 0
            expired = [k for k, (_, d) in self._data.items() if d is not None and d <= now]
            for k in expired:
                del self._data[k]

    # -- public API ---------------------------------------------------------

    def get(self, key: KeyLike) -> Scalar | None:
        """The value of ``key``, or None when missing or expired."""
        k = _key_bytes(key)
        with self._lock:
            entry = self._live(k, self._clock())
        return None if entry is None else entry[0]

    def set(self, key: KeyLike, value: object, ttl: float | None = None) -> bool:
        """Store ``value`` (None deletes the key). Returns True."""
        k = _key_bytes(key)
        if value is None:
            self.delete(k)
            return True
        v = _value(value)
        with self._lock:
            now = self._clock()
            self._store(k, v, _expiry(ttl, now), now)
        return True

    def add(self, key: KeyLike, value: object, ttl: float | None = None) -> tuple[bool, bytes | None]:
        """Store only when the key is absent: (True, None) or (False, b"exists")."""
        k = _key_bytes(key)
        v = _value(value)
        with self._lock:
            now = self._clock()
            if self._live(k, now) is not None:
                return False, b"exists"
            self._store(k, v, _expiry(ttl, now), now)
        return True, None

    def incr(
        self, key: KeyLike, step: int | float = 1, init: int | float | None = None
    ) -> tuple[int | float | None, bytes | None]:
        """Add ``step`` to a number; a missing key becomes ``init + step``.

        Returns (new_value, None), (None, b"not found") when the key is missing
        and no ``init`` is given, or (None, b"not a number") for other values.
        The key keeps its TTL; a key created from ``init`` has none.
        """
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise TypeError("incr step must be a number")
        if init is not None and (isinstance(init, bool) or not isinstance(init, (int, float))):
            raise TypeError("incr init must be a number")
        k = _key_bytes(key)
        with self._lock:
            now = self._clock()
            entry = self._live(k, now)
            if entry is None:
                if init is None:
                    return None, b"not found"
                new = init + step
                self._store(k, new, None, now)
                return new, None
            value, deadline = entry
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, b"not a number"
            new = value + step
            self._store(k, new, deadline, now)
            return new, None

    def delete(self, key: KeyLike) -> bool:
        """Remove ``key`` if present. Returns True."""
        k = _key_bytes(key)
        with self._lock:
            self._data.pop(k, None)
        return True

    def ttl(self, key: KeyLike) -> tuple[float | None, bytes | None]:
        """Remaining seconds (0 when the key never expires) or (None, b"not found")."""
        k = _key_bytes(key)
        with self._lock:
            now = self._clock()
            entry = self._live(k, now)
            if entry is None:
                return None, b"not found"
            deadline = entry[1]
        return (0 if deadline is None else deadline - now), None

    def keys(self, max_count: int | None = None) -> list[bytes]:
        """Up to ``max_count`` live keys (default 1024; 0 means all)."""
        limit = _DEFAULT_KEYS_MAX if max_count is None else int(max_count)
        out: list[bytes] = []
        with self._lock:
            now = self._clock()
            for k, (_, deadline) in self._data.items():
                if deadline is not None and deadline <= now:
                    continue
                out.append(k)
                if limit and len(out) >= limit:
                    break
        return out

    def flush(self) -> bool:
        """Remove every key. Returns True."""
        with self._lock:
            self._data.clear()
        return True

    def __len__(self) -> int:
        return len(self.keys(0))


class SharedStore:
    """All shared dictionaries of one server, created on first use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._dicts: dict[bytes, SharedDict] = {}

    def dict(self, name: bytes | str) -> SharedDict:
        """The dictionary called ``name`` (created empty on first use)."""
        key = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        found = self._dicts.get(key)
        if found is not None:
            return found
        with self._lock:
            return self._dicts.setdefault(key, SharedDict(key, self._clock))

    def names(self) -> list[bytes]:
        """Names of the dictionaries created so far."""
        with self._lock:
            return list(self._dicts)

    def call(self, name: bytes, op: bytes, key: object = None, a: object = None, b: object = None) -> tuple:
        """Single entry point used by ``rover/lua/shared.lua``.

        ``op`` is one of get, set, add, incr, delete, ttl, keys, flush. The
        result is always a tuple: Lua receives its items as multiple values.
        Errors in the arguments come back as ``(None, b"<message>")`` instead
        of raising, so a bad call never surfaces as a Python traceback in Lua;
        the Lua wrapper validates arguments before calling.
        """
        d = self.dict(name)
        try:
            if op == b"get":
                return (d.get(key),)
            if op == b"set":
                return (d.set(key, a, b),)
            if op == b"add":
                return d.add(key, a, b)
            if op == b"incr":
                return d.incr(key, 1 if a is None else a, b)
            if op == b"delete":
                return (d.delete(key),)
            if op == b"ttl":
                return d.ttl(key)
            if op == b"keys":
                return (_pack_keys(d.keys(a)),)
            if op == b"flush":
                return (d.flush(),)
        except (TypeError, ValueError) as exc:
            return None, str(exc).encode("utf-8")
        return None, b"unknown operation " + bytes(op)
