"""Memory of a server's whole process tree, read from /proc (Linux only).

A server may be one process (uvicorn, rover-mt) or a tree (nginx master +
workers, granian supervisor + worker, rover-mt --processes 2).  RSS summed
over a tree counts shared pages once per process, so PSS (proportional set
size, shared pages split between their users) is recorded beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class TreeMemory:
    """Memory of a process and all its descendants, in KiB."""

    rss_kib: int
    pss_kib: int
    processes: int


def tree_pids(root_pid: int) -> list[int]:
    """`root_pid` and every descendant that is alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _read_kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root_pid: int) -> TreeMemory:
    """RSS and PSS summed over the tree rooted at `root_pid`."""
    pids = tree_pids(root_pid)
    rss = sum(_read_kib(PROC / str(pid) / "status", "VmRSS:") for pid in pids)
    pss = sum(_read_kib(PROC / str(pid) / "smaps_rollup", "Pss:") for pid in pids)
    return TreeMemory(rss_kib=rss, pss_kib=pss, processes=len(pids))
