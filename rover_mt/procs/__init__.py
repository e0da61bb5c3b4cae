"""``--processes N``: several server processes sharing one port (SO_REUSEPORT).

One process has one I/O thread, and Python work per request runs one thread at a
time; more processes lift both ceilings on multi-core machines. The parent
(:class:`Supervisor`) loads the app once to check it, reserves the port and runs
N children, each an ordinary server with its own I/O thread and ``workers`` Lua
workers (:class:`ChildRole`). Children leave metric snapshots in a shared folder
so a scrape of ``/metrics`` on any of them shows the totals of all.

``rover.shared`` stays per process: each child has its own store (see
``docs/processes.md``).
"""

from .child import CHILD_ENV, HURRY_SIGNAL, ChildRole, ChildSpec
from .port import reserve_port
from .snapshots import SnapshotDir
from .supervisor import Supervisor

__all__ = ["CHILD_ENV", "HURRY_SIGNAL", "ChildRole", "ChildSpec", "SnapshotDir", "Supervisor", "reserve_port"]
