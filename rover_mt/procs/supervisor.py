"""The parent of ``--processes N``: start, watch, restart and stop the children.

The app has already been loaded once by the caller (so a bad app exits 2 before
any child starts). The supervisor then reserves the port, starts N children
(``python -m rover_mt serve APP`` with :data:`~rover_mt.procs.child.CHILD_ENV`
set), waits until each one serves, prints the one banner, and watches them:

* a child that exits on its own is logged and started again (after a pause that
  grows while it keeps failing quickly), and its counters stay in the totals;
* the first :meth:`Supervisor.request_stop` sends SIGTERM to every child (each one
  stops gracefully within ``graceful_timeout``); a second one sends
  :data:`~rover_mt.procs.child.HURRY_SIGNAL`, which children take as "stop now"
  (a repeated SIGTERM is not: systemd and terminals signal the whole group);
* the snapshot folder and the reserved port are released on the way out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..observe.logger import Logger
from .child import CHILD_ENV, HURRY_SIGNAL, ChildSpec
from .port import reserve_port
from .snapshots import SnapshotDir

POLL_INTERVAL = 0.1
#: How long a child may take to load the app and start serving.
READY_TIMEOUT = 120.0
#: Extra seconds after ``graceful_timeout`` before children still running are killed.
KILL_SLACK = 5.0
#: A child that ran at least this long before exiting is restarted without delay.
STABLE_AFTER = 10.0
MAX_RESTART_DELAY = 30.0

EXIT_OK, EXIT_UNEXPECTED = 0, 1


@dataclass
class _Slot:
    """One of the N places a child fills; its process changes on restart."""

    number: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_delay: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Runs ``config.processes`` server processes on one port until asked to stop.

    ``flags`` are the settings given on the command line (they are passed on to
    every child), ``env`` the environment the children inherit.
    """

    def __init__(self, app: str | os.PathLike[str], flags: Mapping[str, Any], config: Config, *,
                 engine_name: str, env: Mapping[str, str] | None = None,
                 logger: Logger | None = None) -> None:
        self.app = str(Path(app).resolve())
        self.flags = dict(flags)
        self.config = config
        self.engine_name = engine_name
        self.env = dict(os.environ if env is None else env)
        self.logger = logger or Logger(level=config.log_level, fmt=config.log_format, access_log=False)
        self.port = 0
        self._slots = [_Slot(n) for n in range(1, config.processes + 1)]
        self._stop_requests = 0
        self._wake = threading.Event()
        self._snapshots: SnapshotDir | None = None

    # -- control --------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask for a graceful stop; a second call stops the children at once.

        Safe to call from a signal handler (it only counts and wakes the loop).
        """
        self._stop_requests += 1
        self._wake.set()

    def child_pids(self) -> list[int]:
        """The process ids of the running children."""
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.poll() is None]

    # -- main loop --------------------------------------------------------------
    def run(self) -> int:
        """Serve until stopped; returns the exit code (0 after a clean stop).

        Raises AddressInUseError / StartupError when the port cannot be reserved.
        """
        reserved = reserve_port(self.config.host, self.config.port)
        self.port = reserved.getsockname()[1]
        folder = tempfile.mkdtemp(prefix="rover-mt-metrics-")
        self._snapshots = SnapshotDir(folder)
        try:
            for slot in self._slots:
                self._spawn(slot)
            failed = self._wait_ready()
            if failed is not None:
                self._stop_children()
                return failed
            if self._stop_requests:
                return self._stop_children()
            self._banner()
            self._watch()
            return self._stop_children()
        finally:
            for slot in self._slots:
                if slot.proc is not None and slot.proc.poll() is None:
                    slot.proc.kill()
                    slot.proc.wait()
            reserved.close()
            shutil.rmtree(folder, ignore_errors=True)
            self.logger.close()

    def _spawn(self, slot: _Slot) -> None:
        assert self._snapshots is not None
        flags = {**self.flags, "port": str(self.port), "processes": str(self.config.processes)}
        spec = ChildSpec(slot.number, os.getpid(), str(self._snapshots.path), flags)
        env = {**self.env, CHILD_ENV: spec.to_env()}
        slot.proc = subprocess.Popen([sys.executable, "-m", "rover_mt", "serve", self.app],
                                     env=env, stdin=subprocess.DEVNULL)
        slot.started = time.monotonic()

    def _wait_ready(self) -> int | None:
        """Wait until every child serves. Returns None, or an exit code when one failed."""
        assert self._snapshots is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._stop_requests:
                return None
            waiting = False
            for slot in self._slots:
                assert slot.proc is not None
                code = slot.proc.poll()
                if code is not None:
                    # The child printed its own error (bad port, app changed on disk...).
                    return code if code > 0 else EXIT_UNEXPECTED
                if not self._snapshots.has(slot.proc.pid):
                    waiting = True
            if not waiting:
                return None
            self._wake.wait(POLL_INTERVAL)
        self.logger.error(f"server processes did not start within {READY_TIMEOUT:.0f} s")
        return EXIT_UNEXPECTED

    def _banner(self) -> None:
        from ..protocol import resolve_backend
        from ..server import ENGINE_NAMES

        cfg = self.config
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        url = f"http://{host}:{self.port}"
        docs = f", docs {url}{cfg.docs_path}" if cfg.docs else ""
        self.logger.info(
            f"rover-mt listening on {url} ({cfg.processes} processes x {cfg.workers} workers, "
            f"{ENGINE_NAMES.get(self.engine_name, self.engine_name)}, http {resolve_backend(cfg.http)}{docs})",
            pids=",".join(str(p) for p in self.child_pids()))

    def _watch(self) -> None:
        """Restart children that exit until a stop is requested."""
        while not self._stop_requests:
            self._wake.wait(POLL_INTERVAL)
            now = time.monotonic()
            for slot in self._slots:
                if self._stop_requests:
                    return
                proc = slot.proc
                if proc is not None and proc.poll() is not None:
                    self._on_exit(slot, now)
                elif proc is None and now >= slot.restart_at:
                    self._spawn(slot)

    def _on_exit(self, slot: _Slot, now: float) -> None:
        """A child exited while it should be serving: keep its counts, schedule a restart."""
        assert slot.proc is not None and self._snapshots is not None
        pid, code = slot.proc.pid, slot.proc.returncode
        self._snapshots.retire(pid)
        slot.proc = None
        # A child that fails fast again and again (say, the app file became
        # invalid) is retried less and less often instead of in a tight loop.
        if now - slot.started >= STABLE_AFTER:
            slot.restart_delay = 0.0
        else:
            slot.restart_delay = min(MAX_RESTART_DELAY, max(0.5, slot.restart_delay * 2))
        slot.restart_at = now + slot.restart_delay
        how = f"signal {-code}" if code < 0 else f"code {code}"
        self.logger.warn(f"server process {pid} (slot {slot.number}) exited with {how}; "
                         f"restarting in {slot.restart_delay:.1f} s")

    def _stop_children(self) -> int:
        """SIGTERM every child and wait; a second stop request or the deadline hurries them."""
        self._signal_all(signal.SIGTERM)
        hurried = False
        deadline = time.monotonic() + self.config.graceful_timeout + KILL_SLACK
        while any(s.proc is not None and s.proc.poll() is None for s in self._slots):
            if not hurried and self._stop_requests >= 2:
                hurried = True
                self._signal_all(HURRY_SIGNAL)
            if time.monotonic() >= deadline:
                self.logger.error("server processes did not stop in time; killing them")
                self._signal_all(signal.SIGKILL)
                return EXIT_UNEXPECTED
            self._wake.clear()
            self._wake.wait(POLL_INTERVAL)
        codes = [s.proc.returncode for s in self._slots if s.proc is not None]
        # A child signalled before it set up its handlers still stopped as asked.
        clean = all(c in (0, -signal.SIGTERM, -HURRY_SIGNAL) for c in codes)
        return EXIT_OK if clean else EXIT_UNEXPECTED

    def _signal_all(self, signum: int) -> None:
        for slot in self._slots:
            if slot.proc is not None and slot.proc.poll() is None:
                try:
                    slot.proc.send_signal(signum)
                except ProcessLookupError:
                    pass
