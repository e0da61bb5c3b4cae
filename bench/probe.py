"""W5's latency probe: a few connections that time each of their own requests.

wrk can only report the latency of all its responses together, 503s included,
so W5 needs a second client that keeps the latency of each successful answer.
It is wrk again, with one connection per thread (`-tN -cN`): each thread's Lua
state then has exactly one request in flight, and its `request()` and
`response()` callbacks bracket that request. LuaJIT's FFI reads the monotonic
clock, and each thread writes `status seconds` lines to its own file.

Why not Python threads with http.client: they cost about 90 µs of CPU per
request, some 25% of a core at W5's rate, on a 2-core machine where the server
under test is CPU-bound, and a thread woken by its answer could wait for the
probe process's GIL before it read the clock, adding that wait to the figure.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from wrkrun import WrkError, run_wrk

# One connection per wrk thread, so `started` always belongs to the answer that
# response() sees. The file name carries the thread number set in setup().
_PROBE_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } probe_timespec;
int clock_gettime(int clock_id, probe_timespec *tp);
]]
local ts = ffi.new("probe_timespec")
local CLOCK_MONOTONIC = 1
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("probe_id", counter)
end

local out, started, pause_ms
function init(args)
  out = assert(io.open(args[1] .. "/probe-" .. probe_id .. ".txt", "w"))
  pause_ms = tonumber(args[2])
end
function delay()
  return pause_ms
end
function request()
  started = now()
  return wrk.request()
end
function response(status, headers, body)
  out:write(status, " ", string.format("%.7f", now() - started), "\\n")
  out:flush()
end
"""


class WrkProbe:
    """`connections` closed-loop connections timing every request, started
    `start_delay_s` into the overload and run for `duration_s`."""

    def __init__(self, url: str, connections: int, start_delay_s: float, duration_s: float,
                 scratch: Path, pause_ms: int = 0) -> None:
        self._url, self._connections = url, connections
        self._start_delay, self._duration = start_delay_s, duration_s
        self._pause_ms = pause_ms
        self._dir = scratch / "probe"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        for old in self._dir.glob("probe-*.txt"):
            old.unlink()
        self._thread.start()

    def wait(self) -> None:
        """Wait until the probe has run its course."""
        self._thread.join(timeout=self._duration + 60)

    def _run(self) -> None:
        # wrk fires one request per connection at once when it starts; the
        # bound is about the steady state that follows, so probe from then on.
        time.sleep(self._start_delay)
        script = self._dir / "probe.lua"
        script.write_text(_PROBE_SCRIPT, encoding="utf-8")
        seconds = max(1, round(self._duration - self._start_delay))
        try:
            run_wrk(self._url, self._connections, seconds, script, [str(self._dir), str(self._pause_ms)],
                    threads=self._connections)
        except WrkError as exc:
            self.error = str(exc)

    @property
    def samples(self) -> list[tuple[int, float]]:
        """(status, seconds) of every answered probe request."""
        found: list[tuple[int, float]] = []
        for path in sorted(self._dir.glob("probe-*.txt")):
            for line in path.read_text(encoding="utf-8").splitlines():
                status, seconds = line.split()
                found.append((int(status), float(seconds)))
        return found
