"""The folder where server processes leave metric snapshots for each other.

Layout (one folder per supervisor, made with ``tempfile.mkdtemp``):

* ``live-<pid>.json``: the latest families of a running child, rewritten by that
  child about once a second (and when it stops);
* ``retired.json``: the counters and histograms of children that have exited,
  added up by the supervisor, so totals never go down when a child is replaced;
* ``served.json`` (with ``served.lock``): the counters and histograms of the
  latest ``/metrics`` answer of any child, so the next answer, from whichever
  child, is never lower (see :func:`~rover_mt.observe.metrics_merge.keep_monotonic`).

Every file is written to a temporary name and renamed into place, so a reader
sees either the old or the new version, never half of one. Each file has one
writer (its child, or the supervisor for ``retired.json``), except
``served.json``, which children update under an exclusive ``flock``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from ..observe.metrics_families import Family
from ..observe.metrics_merge import (
    families_from_bytes,
    families_to_bytes,
    keep_monotonic,
    merge_families,
    without_gauges,
)

_LIVE_PREFIX = "live-"
_SUFFIX = ".json"
RETIRED_NAME = "retired.json"
SERVED_NAME = "served.json"
SERVED_LOCK = "served.lock"


class SnapshotDir:
    """Reads and writes the snapshot files of one multi-process server."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def live_path(self, pid: int) -> Path:
        return self.path / f"{_LIVE_PREFIX}{pid}{_SUFFIX}"

    def write(self, pid: int, families: Sequence[Family]) -> None:
        """Publish ``families`` as process ``pid``'s latest snapshot."""
        self._write_atomic(self.live_path(pid), families_to_bytes(families))

    def has(self, pid: int) -> bool:
        """Whether process ``pid`` has published a snapshot (it is serving)."""
        return self.live_path(pid).exists()

    def peers(self, own_pid: int) -> list[list[Family]]:
        """Every other process's latest families, plus the retired totals."""
        groups = []
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        for name in names:
            if name == RETIRED_NAME or (name.startswith(_LIVE_PREFIX) and name.endswith(_SUFFIX)
                                        and name != self.live_path(own_pid).name):
                families = self._read(self.path / name)
                if families:
                    groups.append(families)
        return groups

    def monotonic(self, families: Sequence[Family]) -> list[Family]:
        """``families`` raised to the last answer any process gave, which they become."""
        with open(self.path / SERVED_LOCK, "ab") as lock:
            # Held for one small read and write; two children scraped at the same
            # moment must not both write, or one could lower the other's answer.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                answer = keep_monotonic(families, self._read(self.path / SERVED_NAME))
                self._write_atomic(self.path / SERVED_NAME, families_to_bytes(without_gauges(answer)))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return answer

    def retire(self, pid: int) -> None:
        """Fold exited process ``pid``'s last counters into ``retired.json`` (supervisor only).

        Its gauges are dropped; the counts it made after its last snapshot are lost.
        """
        live = self.live_path(pid)
        last = self._read(live)
        if last:
            retired = self._read(self.path / RETIRED_NAME)
            total = merge_families([retired, without_gauges(last)])
            self._write_atomic(self.path / RETIRED_NAME, families_to_bytes(total))
        try:
            live.unlink()
        except FileNotFoundError:
            pass

    def _read(self, path: Path) -> list[Family]:
        try:
            return families_from_bytes(path.read_bytes())
        except (OSError, ValueError):
            # Gone between listing and reading (a child was retired), or not ours.
            return []

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
