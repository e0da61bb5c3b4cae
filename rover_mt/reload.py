"""`--reload`: watch the app folder's *.lua files and reload the server on change.

Polling (twice a second) keeps this dependency-free and works on every
filesystem; a reload that fails keeps the old app serving (Server.reload logs why).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.5


def snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    """mtime and size of every *.lua file below `folder`."""
    out = {}
    for path in folder.rglob("*.lua"):
        try:
            st = path.stat()
        except OSError:
            continue
        out[path] = (st.st_mtime_ns, st.st_size)
    return out


class ReloadWatcher:
    """A background thread calling ``server.reload()`` when Lua files change."""

    def __init__(self, server: Any, interval: float = POLL_SECONDS) -> None:
        self.server = server
        self.folder = Path(server.app_path).resolve().parent
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rover-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        seen = snapshot(self.folder)
        while not self._stop.wait(self.interval):
            now = snapshot(self.folder)
            if now == seen:
                continue
            # Wait until the files stop changing (an editor or `git checkout`
            # writing several files), so one reload sees all of them.
            while not self._stop.wait(self.interval):
                settled = snapshot(self.folder)
                if settled == now:
                    break
                now = settled
            seen = now
            try:
                self.server.reload()
            except Exception as exc:  # keep watching whatever happened
                self.server.engine.logger.error(f"reload failed: {exc!r}")
