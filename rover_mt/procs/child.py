"""The child side of ``--processes N``: one ordinary server plus three duties.

A child is ``python -m rover_mt serve APP`` started by the supervisor with the
:data:`CHILD_ENV` variable set. It then

* takes its settings from the supervisor (the real port, the parent's flags);
* leaves its banner to the supervisor, which prints one for all processes;
* publishes its metrics to the shared snapshot folder about once a second, and
  answers ``/metrics`` with its own families plus every sibling's latest ones;
* stops when the supervisor disappears (so a killed supervisor leaves no
  orphans serving the port).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from ..observe.metrics_families import Family
from ..observe.metrics_merge import collector_families, merge_families, render_families
from .snapshots import SnapshotDir

#: Environment variable that marks a child and carries its :class:`ChildSpec`
#: (not `ROVER_MT_*`, which is the namespace of settings).
CHILD_ENV = "_ROVER_MT_CHILD"
#: What the supervisor sends for "stop now" (SIGTERM, even repeated, is a graceful stop).
HURRY_SIGNAL = signal.SIGUSR1
#: Seconds between metric snapshots; a scrape sees siblings' counts this late at most.
SNAPSHOT_INTERVAL = 1.0
#: The banner line each child would print (the supervisor prints the only one).
BANNER_MARK = "rover-mt listening on "


@dataclass(frozen=True)
class ChildSpec:
    """What the supervisor tells a child: which slot it fills, where the snapshot
    folder is, who its parent is, and the settings given on the command line
    (including the real port)."""

    slot: int
    parent_pid: int
    snapshot_dir: str
    flags: dict[str, Any] = field(default_factory=dict)

    def to_env(self) -> str:
        return orjson.dumps({"slot": self.slot, "parent_pid": self.parent_pid,
                             "snapshot_dir": self.snapshot_dir, "flags": self.flags}).decode()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ChildSpec | None":
        """The spec in ``env``, or None when this process is not a child."""
        raw = env.get(CHILD_ENV)
        if not raw:
            return None
        doc = orjson.loads(raw)
        return cls(int(doc["slot"]), int(doc["parent_pid"]), str(doc["snapshot_dir"]), dict(doc["flags"]))


class _BannerFilter:
    """A text stream that passes everything through except the banner line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if BANNER_MARK in text:
            text = "".join(line for line in text.splitlines(keepends=True) if BANNER_MARK not in line)
        return self._stream.write(text) if text else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ChildRole:
    """Runs a child's duties around a :class:`~rover_mt.Server` it does not own."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid = os.getpid()
        self.snapshots = SnapshotDir(spec.snapshot_dir)
        self._server: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._label_cache: dict = {}
        self._extra: Any = None

    def settings(self, flags: Mapping[str, Any]) -> dict[str, Any]:
        """The settings to start the server with: the supervisor's win."""
        return {**flags, **self.spec.flags}

    def quiet_banner(self) -> None:
        """Drop this process's own banner line (call before the server's logger exists).

        A child is a process of its own, so replacing its ``sys.stderr`` touches
        nothing else; every other line still goes to the inherited stderr.
        """
        sys.stderr = _BannerFilter(sys.stderr)  # type: ignore[assignment]

    def attach(self, server: Any) -> None:
        """Serve merged ``/metrics`` and start publishing snapshots (after ``start``).

        The first snapshot also tells the supervisor that this child is serving.
        """
        self._server = server
        metrics = server.engine.metrics
        # The process collector lives in Metrics' side registry; should that ever
        # move, a registry of our own keeps the process_* metrics in the answer.
        self._extra = metrics.extra_registry
        server.engine.builtins.render_metrics = self.render_metrics
        self.publish()
        self._thread = threading.Thread(target=self._publish_loop, name="rover-metrics-snapshot", daemon=True)
        self._thread.start()

    def own_families(self) -> list[Family]:
        """This process's families now, the ``process_*`` ones included."""
        return self._server.engine.metrics.families() + collector_families(self._extra)

    def render_metrics(self) -> tuple[bytes, str]:
        """The ``/metrics`` answer: this process's live numbers plus every sibling's
        latest snapshot, never below an earlier answer (runs on the I/O thread)."""
        merged = merge_families([self.own_families(), *self.snapshots.peers(self.pid)])
        try:
            merged = self.snapshots.monotonic(merged)
        except OSError:
            pass  # the folder is gone (stopping): the plain sum is still a fine answer
        return render_families(merged, self._label_cache)

    def publish(self) -> None:
        """Write this process's current families to its snapshot file."""
        if self._server is None:
            return
        try:
            self.snapshots.write(self.pid, self.own_families())
        except OSError as exc:  # a full disk must not stop the server
            self._server.engine.logger.warn(f"cannot write metrics snapshot: {exc}")

    def _publish_loop(self) -> None:
        while not self._stop.wait(SNAPSHOT_INTERVAL):
            self.publish()

    def orphaned(self) -> bool:
        """Whether the supervisor has gone (this process was re-parented)."""
        return os.getppid() != self.spec.parent_pid

    def detach(self) -> None:
        """Stop publishing and leave a last snapshot (call after the server stopped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.publish()
