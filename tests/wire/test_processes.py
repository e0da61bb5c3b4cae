"""`--processes N`: children on one SO_REUSEPORT port, metrics added up across
them, restart of a dead child, signals, exit codes; plus the merge helpers."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rover_mt.observe.metrics_families import Family
from rover_mt.observe.metrics_merge import (
    families_from_bytes,
    families_to_bytes,
    keep_monotonic,
    merge_families,
    without_gauges,
)
from rover_mt.observe.metrics_shard import new_histogram
from rover_mt.observe.metrics_text import render_text
from rover_mt.procs import SnapshotDir
from tests.helpers import write_app

ROOT = Path(__file__).resolve().parents[2]

# /who answers a token made once per process: rover.shared is per process, and a
# table address differs between processes (ASLR), so two tokens = two processes.
APP = """
local api = rover.server {}
function api.who.get(ctx)
  local store = rover.shared.proc
  store:add("token", tostring({}) .. "-" .. math.random(1, 1000000000))
  return store:get("token")
end
function api.spin.get(ctx)
  local x = 0
  for i = 1, tonumber(ctx:query().n or 1e12) do x = x + i end
  return x
end
function api.count.get(ctx)
  return { n = rover.shared.counts:incr("n", 1, 0) }
end
return api
"""


# -- merging (no processes) ----------------------------------------------------

def _hist(*observations: tuple[int, float]) -> list[float]:
    hist = new_histogram()
    for slot, seconds in observations:
        hist[slot] += 1
        hist[-1] += seconds
    return hist


def _families(requests: int, depth: float, hist: list[float]) -> list[Family]:
    return [
        Family("rover_http_requests_total", "Requests.", "counter", ("method", "route", "status"),
               [(("GET", "/a", "200"), requests)]),
        Family("rover_http_request_duration_seconds", "Durations.", "histogram", ("method", "route"),
               [(("GET", "/a"), hist)]),
        Family("rover_queue_depth", "Depth.", "gauge", (), [((), depth)]),
    ]


def test_merge_adds_counters_histograms_and_gauges_and_parses() -> None:
    one = _families(3, 2, _hist((0, 0.0001), (0, 0.0002), (5, 0.02)))
    two = _families(4, 1, _hist((1, 0.0008)))
    two.append(Family("rover_only_here_total", "Only in one process.", "counter", (), [((), 7)]))
    merged = {f.name: f for f in merge_families([one, families_from_bytes(families_to_bytes(two))])}
    assert merged["rover_http_requests_total"].samples == [(("GET", "/a", "200"), 7)]
    assert merged["rover_queue_depth"].samples == [((), 3)]
    assert merged["rover_only_here_total"].samples == [((), 7)]
    hist = merged["rover_http_request_duration_seconds"].samples[0][1]
    assert hist[0] == 2 and hist[1] == 1 and hist[5] == 1
    assert hist[-1] == pytest.approx(0.0211)
    # The inputs are untouched (they are live data of the scraping process).
    assert one[1].samples[0][1][1] == 0
    parsed = {f.name: f for f in text_string_to_metric_families(render_text(list(merged.values())))}
    count = [s for s in parsed["rover_http_request_duration_seconds"].samples
             if s.name.endswith("_count")]
    assert count[0].value == 4
    assert parsed["rover_http_requests"].samples[0].value == 7


def test_merge_skips_a_family_whose_shape_disagrees() -> None:
    good = [Family("rover_x_total", "X.", "counter", ("a",), [(("1",), 2)])]
    odd = [Family("rover_x_total", "X.", "gauge", (), [((), 100)])]
    assert merge_families([good, odd])[0].samples == [(("1",), 2)]


def test_keep_monotonic_never_lowers_counters_or_buckets_but_lets_gauges_fall() -> None:
    earlier = _families(10, 5, _hist((0, 0.001), (0, 0.001), (3, 0.01)))
    earlier.append(Family("rover_gone_total", "Only earlier.", "counter", (), [((), 4)]))
    now = _families(8, 1, _hist((0, 0.001), (0, 0.001), (0, 0.001), (3, 0.01)))
    got = {f.name: f for f in keep_monotonic(now, earlier)}
    assert got["rover_http_requests_total"].samples == [(("GET", "/a", "200"), 10)]
    assert got["rover_queue_depth"].samples == [((), 1)]
    hist = got["rover_http_request_duration_seconds"].samples[0][1]
    assert hist[0] == 3 and hist[3] == 1
    assert got["rover_gone_total"].samples == [((), 4)]


def test_start_time_and_fd_limit_keep_the_smallest_value() -> None:
    def proc(start: float, max_fds: float, rss: float) -> list[Family]:
        return [Family("process_start_time_seconds", "Start.", "gauge", (), [((), start)]),
                Family("process_max_fds", "Limit.", "gauge", (), [((), max_fds)]),
                Family("process_resident_memory_bytes", "RSS.", "gauge", (), [((), rss)])]

    got = {f.name: f.samples[0][1] for f in merge_families([proc(100.0, 1024, 10), proc(90.0, 4096, 5)])}
    assert got == {"process_start_time_seconds": 90.0, "process_max_fds": 1024,
                   "process_resident_memory_bytes": 15}


def test_snapshot_bytes_reject_garbage() -> None:
    for data in (b"", b"[]", b'{"v": 99, "families": []}', b"not json"):
        with pytest.raises(ValueError):
            families_from_bytes(data)


def test_retired_child_keeps_its_counters_not_its_gauges(tmp_path: Path) -> None:
    folder = SnapshotDir(tmp_path)
    folder.write(101, _families(5, 9, _hist((0, 0.001))))
    folder.write(102, _families(2, 1, _hist()))
    folder.retire(101)
    folder.write(103, _families(1, 4, _hist()))
    folder.retire(103)
    assert not folder.has(101) and folder.has(102)
    seen_by_102 = {f.name: f for f in merge_families(folder.peers(102))}
    assert seen_by_102["rover_http_requests_total"].samples == [(("GET", "/a", "200"), 6)]
    assert "rover_queue_depth" not in seen_by_102
    assert without_gauges(_families(1, 1, _hist()))[-1].kind == "histogram"
    # A process never reads its own file back (it adds its live numbers instead).
    assert len(folder.peers(102)) == 1


# -- real processes -------------------------------------------------------------

def _start(app: Path, tmp: Path, *flags: str) -> tuple[subprocess.Popen[str], int]:
    """`rover-mt serve --processes 2`; returns the parent and the port from its banner."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rover_mt", "serve", str(app), "--port", "0", "--processes", "2",
         "--workers", "1", "--no-access-log", "--graceful-timeout", "5", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), True)
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(2 processes x 1 workers", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"no banner; exit code {proc.poll()}; stderr: {''.join(lines)}")


def _get(port: int, path: str) -> tuple[int, str]:
    """One request on a fresh connection (so SO_REUSEPORT may pick either process)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _route_total(port: int, route: str) -> float:
    status, text = _get(port, "/metrics")
    assert status == 200
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "rover_http_requests":
            total += sum(s.value for s in family.samples
                         if s.name == "rover_http_requests_total" and s.labels["route"] == route)
    return total


def _wait_total(port: int, route: str, expected: int, timeout: float = 8.0) -> float:
    """Scrape until the merged total reaches `expected` (siblings publish every second)."""
    deadline = time.monotonic() + timeout
    total = _route_total(port, route)
    while total < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        total = _route_total(port, route)
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("this kernel does not list child processes in /proc")
    return [int(p) for p in path.read_text().split()]


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise


def test_two_processes_answer_and_metrics_add_up(tmp_path: Path) -> None:
    app = write_app(tmp_path, APP)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc, port = _start(app, scratch)
    try:
        tokens = set()
        for _ in range(200):
            status, body = _get(port, "/who")
            assert status == 200
            tokens.add(body)
        assert len(tokens) == 2, "both processes should have answered"
        assert len(_children(proc.pid)) == 2
        # Any process's /metrics shows the total of both; it never overshoots.
        assert _wait_total(port, "/who", 200) == 200
        for _ in range(6):
            assert _route_total(port, "/who") == 200
        # rover.shared is per process: the two counters together count every request.
        seen = [json.loads(_get(port, "/count")[1])["n"] for _ in range(40)]
        assert seen.count(1) == 2 and max(seen) < 40
    finally:
        started = time.monotonic()
        code = _stop(proc)
    assert code == 0
    assert time.monotonic() - started < 5 + 5
    assert list(scratch.iterdir()) == [], "the snapshot folder is removed on exit"


def test_a_killed_child_is_replaced_and_its_counts_stay(tmp_path: Path) -> None:
    app = write_app(tmp_path, APP)
    proc, port = _start(app, tmp_path)
    try:
        for _ in range(60):
            assert _get(port, "/who")[0] == 200
        assert _wait_total(port, "/who", 60) == 60
        time.sleep(1.3)  # both children have published their counts since
        before = _children(proc.pid)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 15
        now = before
        while time.monotonic() < deadline:
            now = _children(proc.pid)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and before[0] not in now, f"not replaced: {before} -> {now}"
        # The replacement binds the same port and serves (wait for its first answer).
        tokens: set[str] = set()
        probes = 0
        deadline = time.monotonic() + 15
        while len(tokens) < 2 and time.monotonic() < deadline:
            status, body = _get(port, "/who")
            assert status == 200
            tokens.add(body)
            probes += 1
        assert len(tokens) == 2
        # The dead child's published counts stay in the totals (nothing counted twice).
        assert _wait_total(port, "/who", 60 + probes) == 60 + probes
        time.sleep(0.3)
        assert _route_total(port, "/who") == 60 + probes
    finally:
        assert _stop(proc) == 0


def test_sigint_stops_cleanly_and_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    app = write_app(tmp_path, APP)
    proc, port = _start(app, tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    # A handler that runs past graceful_timeout (5 s) would hold a graceful stop;
    # the second signal must not wait for it.
    proc, port = _start(app, tmp_path, "--handler-timeout", "60")
    errors: list[Exception] = []

    def spin() -> None:
        try:
            _get(port, "/spin")
        except Exception as exc:  # the connection is cut when the process stops
            errors.append(exc)

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.5)  # the request is running in a worker
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None, "a graceful stop waits for the running handler"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 3
    thread.join(15)
    assert errors


def test_sigterm_to_the_whole_group_is_still_graceful(tmp_path: Path) -> None:
    """systemd (KillMode=control-group) signals every process at once: each child
    then gets SIGTERM twice (directly and from the supervisor) and must still
    finish its in-flight request."""
    app = write_app(tmp_path, APP)
    proc, port = _start(app, tmp_path)
    answers: list[object] = []

    def slow() -> None:
        try:
            answers.append(_get(port, "/spin?n=200000000")[0])
        except Exception as exc:
            answers.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)  # the request is running in a worker
    # The signals to the children and to the supervisor arrive apart in time (as
    # they may from systemd), so a child cannot merge them into one.
    for kid in _children(proc.pid):
        os.kill(kid, signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    thread.join(15)
    assert answers == [200]


def test_children_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    app = write_app(tmp_path, APP)
    proc, port = _start(app, tmp_path)
    kids = _children(proc.pid)
    proc.kill()
    proc.wait(5)
    deadline = time.monotonic() + 15
    alive = kids
    while alive and time.monotonic() < deadline:
        alive = [k for k in kids if Path(f"/proc/{k}").exists()
                 and "zombie" not in Path(f"/proc/{k}/status").read_text(errors="replace").lower()]
        time.sleep(0.1)
    for k in alive:  # leave nothing behind, whatever happened
        os.kill(k, signal.SIGKILL)
    assert not alive, "orphaned children kept running"


def test_bad_app_exits_2_before_any_child_starts(tmp_path: Path) -> None:
    app = write_app(tmp_path, "local api = rover.server {}\nfunction api.x.get( return api\n")
    out = subprocess.run([sys.executable, "-m", "rover_mt", "serve", str(app), "--port", "0",
                          "--processes", "2"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 2
    assert "app.lua" in out.stderr and "Traceback" not in out.stderr


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    app = write_app(tmp_path, APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "rover_mt", "serve", str(app), "--port", str(port),
                              "--processes", "2"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 2
    assert "already in use" in out.stderr and "Traceback" not in out.stderr
