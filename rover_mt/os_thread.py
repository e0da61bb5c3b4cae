"""Give server threads their names at the OS level too, so ``top -H``,
``ps -L`` and /proc show which thread is the I/O loop and which are workers."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def name_os_thread(name: str) -> None:
    """Set the calling thread's kernel name (Linux; at most 15 bytes; else a no-op)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
